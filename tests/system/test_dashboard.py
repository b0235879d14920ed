"""The dashboard in a real headless Chromium (Debian's chromium and
chromium-driver, driven by selenium) against 3 real cores: log in and
change the default password, see the 3 nodes, kick a connected
mosquitto_sub from the clients page (it is disconnected), save the
configuration form; a screenshot of every page goes to the artifact
directory (printed)."""

import os
import shutil
import subprocess
import tempfile
import threading
import unittest

from harness import ClusterTest, wait_until
from mqtt_client import Client

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ARTIFACTS = os.path.join(os.environ.get("STARLING_ARTIFACTS", tempfile.gettempdir()),
                         "dashboard")


class DashboardTest(ClusterTest):
    def setUp(self):
        super().setUp()
        self.cores = [self.node(f"core{i}", http=True, mqtt=True) for i in (1, 2, 3)]
        self.mesh(*self.cores)
        self.profile = tempfile.mkdtemp(prefix="starling-chromium-")
        self.addCleanup(shutil.rmtree, self.profile, True)
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for a in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,900",
                  f"--user-data-dir={self.profile}"):
            opts.add_argument(a)
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        self.addCleanup(self.driver.quit)
        self.wait = WebDriverWait(self.driver, 20)
        os.makedirs(ARTIFACTS, exist_ok=True)
        print(f"\ndashboard screenshots: {ARTIFACTS}", flush=True)

    def shot(self, name):
        self.driver.save_screenshot(os.path.join(ARTIFACTS, f"{name}.png"))

    def visible(self, css):
        return self.wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def click(self, css):
        """Clicks the element css names now: a table row re-rendered by a refresh
        that was in flight is found again, not clicked through a stale handle."""
        def attempt(d):
            try:
                d.find_element(By.CSS_SELECTOR, css).click()
                return True
            except StaleElementReferenceException:
                return False
        self.wait.until(attempt)

    def go(self, page, ready_css):
        self.driver.find_element(By.CSS_SELECTOR, f'.sidebar a[data-page="{page}"]').click()
        self.visible(f"#page-{page}")
        self.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ready_css))

    def traffic(self, stop):
        """A steady trickle of messages, so the chart and rates have data."""
        sub = Client(self.cores[2].mqtt_port, "dash-sub")
        pub = Client(self.cores[0].mqtt_port, "dash-pub")
        sub.connect()
        sub.subscribe("dash/#")
        pub.connect()
        while not stop.wait(0.02):
            pub.publish("dash/t", b"tick", wait=False)
        pub.disconnect()
        sub.disconnect()

    def test_login_nodes_kick_and_every_page(self):
        d = self.driver
        port = self.cores[1].http_port
        d.get(f"http://127.0.0.1:{port}/")
        # The default user exists once mgmt_shard is replicated.
        wait_until(lambda: self.cores[1].api("POST", "/api/v5/login",
                                             {"username": "admin", "password": "x"})[0] == 401,
                   10, "the login endpoint")
        self.visible("#login-username").clear()
        d.find_element(By.ID, "login-username").send_keys("admin")
        d.find_element(By.ID, "login-password").send_keys("public")
        self.shot("01-login")
        d.find_element(By.ID, "login-submit").click()
        self.visible("#newpw-form")
        d.find_element(By.ID, "newpw-new").send_keys("dashb0ard-pass")
        d.find_element(By.ID, "newpw-again").send_keys("dashb0ard-pass")
        self.shot("02-change-password")
        d.find_element(By.ID, "newpw-submit").click()
        self.visible("#app-view")

        stop = threading.Event()
        t = threading.Thread(target=self.traffic, args=(stop,), daemon=True)
        t.start()
        self.addCleanup(t.join, 10)
        self.addCleanup(stop.set)
        # Overview: the 3 nodes, running.
        self.wait.until(lambda d: len([r for r in d.find_elements(By.CSS_SELECTOR, ".node-row")
                                       if "running" in r.text]) == 3)
        names = sorted(r.get_attribute("data-node") for r in d.find_elements(By.CSS_SELECTOR, ".node-row"))
        self.assertEqual(names, sorted(c.name for c in self.cores))
        # A few chart points with messages flowing.
        self.wait.until(lambda d: d.execute_script(
            "return state.rates.filter(r => r.in > 0).length") >= 5)
        self.shot("03-overview")

        # Clients: search, detail, kick a real mosquitto_sub.
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(self.cores[0].mqtt_port), "-V", "5",
                                "-i", "dash-kick", "-t", "x/#"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: sub.poll() is None and sub.kill())
        self.go("clients", "#clients-table tbody tr")
        box = d.find_element(By.ID, "clients-search")
        box.send_keys("dash-kick")
        row = '.client-row[data-client="dash-kick"]'
        self.wait.until(lambda d: (d.find_element(By.ID, "clients-refresh").click() or True)
                        and d.find_elements(By.CSS_SELECTOR, row))
        self.click(row + " [data-detail]")
        self.visible("#client-detail")
        self.shot("04-clients")
        self.click(row + " .kick-btn")
        self.visible("#modal-ok").click()
        sub.wait(10)  # mosquitto_sub ends: the broker disconnected it
        self.wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, row))
        st, _, _ = self.cores[2].api("GET", "/api/v5/clients/dash-kick",
                                     token=d.execute_script("return state.token"))
        self.assertEqual(st, 404)

        self.go("subscriptions", "#subs-table tbody tr")
        self.wait.until(lambda d: "dash/#" in d.find_element(By.ID, "subs-table").text)
        self.shot("05-subscriptions")
        self.go("database", ".db-table")
        self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, ".db-table")), 3)
        self.shot("06-database")
        self.go("alarms", "#heal-list dt")
        self.shot("07-alarms")
        self.go("cluster", "#members-table tbody tr")
        self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, ".leave-btn")), 2)
        self.shot("08-cluster")
        self.go("config", "#config-form input")
        field = d.find_element(By.ID, "cfg-mqtt.max_inflight")
        field.clear()
        field.send_keys("48")
        d.find_element(By.ID, "config-save").click()
        # Looked up inside the page: Save re-renders the form, so an element
        # found from here a moment earlier can be stale already.
        d.execute_script("document.getElementById('cfg-mqtt.max_inflight')"
                         ".scrollIntoView({block: 'center'})")
        token = d.execute_script("return state.token")
        wait_until(lambda: self.cores[2].api("GET", "/api/v5/configs/mqtt", token=token)[1]
                   .get("max_inflight") == 48 or None, 10, "max_inflight 48 on core3")
        self.shot("09-config")


if __name__ == "__main__":
    unittest.main()
