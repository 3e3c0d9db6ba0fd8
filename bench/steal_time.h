// The time this VM's host took its vCPUs away so far: /proc/stat's "steal" column, summed over
// the CPUs, in milliseconds (0 on bare metal or where the kernel does not count it). The swap
// benches print it beside their tails: on a shared VM, a wake-up that waits a few ms while
// steal time grows is the host's doing, not the engine's.
#pragma once

#include <unistd.h>

#include <fstream>
#include <string>

inline double steal_ms() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                     steal = 0;
  if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) ||
      cpu != "cpu")
    return 0;
  const long hz = ::sysconf(_SC_CLK_TCK);
  return hz > 0 ? static_cast<double>(steal) * 1000.0 / static_cast<double>(hz) : 0;
}
