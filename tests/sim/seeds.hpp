#pragma once

// What every simulation shares: its event type, and the command line and
// seed loop:
//   <sim> [--seeds N] [--first S]   seeds S..S+N-1 (default 0..299)
//   <sim> --seed S [--trace]        one seed; --trace (twice: more) prints it
// A failing seed prints what broke and the command that replays it; the
// exit status is 0 when every seed passed, 1 otherwise, 2 for bad options.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <tuple>

namespace starling::sim {

/// One step of a simulation: run at simulated time `at`; `seq` orders
/// steps due at the same time (the order they were scheduled in), so a
/// seed always replays the same way.
struct event {
  int64_t at;
  uint64_t seq;
  std::function<void()> run;
  bool operator>(const event& o) const {
    return std::tie(at, seq) > std::tie(o.at, o.seq);
  }
};

/// What one seed's run reports: `broken` empty when every invariant held.
struct outcome {
  std::string shape;  ///< "3 nodes, 5 clients", for the failure line
  std::string broken;
  uint64_t events = 0;
};

inline int run_seeds(int argc, char** argv, const char* name,
                     const std::function<outcome(uint64_t seed, int trace)>& one) {
  uint64_t first = 0, count = 300;
  int trace = 0;
  auto usage = [name] {
    std::fprintf(stderr,
                 "usage: %s [--seeds N] [--first S] [--seed S --trace]\n"
                 "  runs seeds S..S+N-1 (default 0..299); --seed runs one, --trace\n"
                 "  prints its events (twice: more of them)\n",
                 name);
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> uint64_t {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s: %s needs a number\n", name, a.c_str());
        usage();
        std::exit(2);
      }
      char* end = nullptr;
      auto v = std::strtoull(argv[++i], &end, 10);
      if (*argv[i] == '\0' || *argv[i] == '-' || *end != '\0') {
        std::fprintf(stderr, "%s: %s wants a number, not '%s'\n", name, a.c_str(),
                     argv[i]);
        usage();
        std::exit(2);
      }
      return v;
    };
    if (a == "--seeds") {
      count = value();
    } else if (a == "--first") {
      first = value();
    } else if (a == "--seed") {
      first = value();
      count = 1;
    } else if (a == "--trace") {
      ++trace;
    } else {
      std::fprintf(stderr, "%s: unknown option '%s'\n", name, a.c_str());
      usage();
      return 2;
    }
  }
  uint64_t failed = 0, events = 0;
  for (uint64_t s = first; s < first + count; ++s) {
    auto o = one(s, trace);
    events += o.events;
    if (!o.broken.empty()) {
      ++failed;
      std::printf("seed %llu (%s): %s\n  replay: %s --seed %llu --trace\n",
                  static_cast<unsigned long long>(s), o.shape.c_str(),
                  o.broken.c_str(), name, static_cast<unsigned long long>(s));
    }
  }
  std::printf("%s: %llu seeds, %llu failed, %llu events\n", name,
              static_cast<unsigned long long>(count),
              static_cast<unsigned long long>(failed),
              static_cast<unsigned long long>(events));
  return failed == 0 ? 0 : 1;
}

} // namespace starling::sim
