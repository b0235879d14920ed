# The Debian package: cmake --build build --target package writes
# build/starling_<version>_<arch>.deb. It installs the node as a service,
# as Debian's mosquitto does: /usr/bin/starling, the unit starling.service,
# a commented /etc/starling/starling.conf (a conffile), /var/lib/starling
# for the data, and maintainer scripts (packaging/) that create the
# starling user and a random cookie on first install. Only `starling` is
# installed: the probe, the tests and the benchmarks are not.
install(TARGETS starling RUNTIME DESTINATION bin)
install(FILES packaging/starling.service DESTINATION /lib/systemd/system)
install(FILES packaging/starling.conf DESTINATION /etc/starling)
install(DIRECTORY DESTINATION /var/lib/starling)
install(FILES README.md docs/cli.md docs/config.md docs/security.md docs/api.md
        docs/operations.md DESTINATION share/doc/starling)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME starling)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "Starling developers <starling@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "clustered MQTT broker on an Erlang-style node runtime")
# The control file's Description: the summary, then these lines.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Starling is an MQTT 3.1/3.1.1/5.0 broker in C++ on the C++ Actor Framework,
clustered the way EMQX is: core and replicant nodes, a replicated database,
cluster-wide routes, retained messages and sessions.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The shared libraries' packages come from dpkg-shlibdeps (dpkg-dev and
# file, installed by tools/setup); adduser is what postinst runs.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/conffiles
    ${PROJECT_SOURCE_DIR}/packaging/postinst
    ${PROJECT_SOURCE_DIR}/packaging/prerm
    ${PROJECT_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# RelWithDebInfo carries debug info: the package does not need it.
set(CPACK_STRIP_FILES ON)
include(CPack)
