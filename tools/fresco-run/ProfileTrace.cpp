//===- ProfileTrace.cpp - fresco-run --profile-trace: Chrome trace JSON ---===//
//
// The Chrome trace event format's JSON object form: {"traceEvents": [...]}
// with complete ("X") events and metadata ("M") events naming the process
// (the rank) and its one lane. Times are integer nanoseconds written as
// microseconds with three decimals, so a run's event encloses its steps'
// exactly.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "tools/fresco-run/Profile.h"

#include <cstdio>
#include <fstream>

namespace fresco::run {
namespace {

std::string quoted(const std::string &s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

/// Nanoseconds as microseconds, exactly: "12.345".
std::string micros(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%03lld", (long long)(ns / 1000),
                (long long)(ns % 1000));
  return buf;
}

struct Writer {
  std::ofstream &out;
  int pid;
  bool first = true;

  void event(const std::string &body) {
    out << (first ? "\n" : ",\n") << "{" << body << "}";
    first = false;
  }
  void complete(const std::string &name, const std::string &cat,
                int64_t startNs, int64_t ns, const std::string &args) {
    event("\"name\":" + quoted(name) + ",\"cat\":" + quoted(cat) +
          ",\"ph\":\"X\",\"ts\":" + micros(startNs) + ",\"dur\":" + micros(ns) +
          ",\"pid\":" + std::to_string(pid) + ",\"tid\":0,\"args\":{" + args +
          "}");
  }
  void metadata(const char *what, const std::string &name) {
    event("\"name\":\"" + std::string(what) +
          "\",\"ph\":\"M\",\"pid\":" + std::to_string(pid) +
          ",\"tid\":0,\"args\":{\"name\":" + quoted(name) + "}");
  }
};

std::string runArgs(const Executor::ProfileEvent &e) {
  return "\"function\":" + quoted(*e.function) +
         ",\"run\":" + std::to_string(e.run) +
         ",\"warm_up\":" + (e.run == 0 ? "true" : "false");
}

} // namespace

std::string tracePath(const std::string &path, int rank, int worldSize) {
  if (worldSize <= 1)
    return path;
  const std::string tag = "-rank" + std::to_string(rank);
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) ||
      dot == (slash == std::string::npos ? 0 : slash + 1))
    return path + tag;
  return path.substr(0, dot) + tag + path.substr(dot);
}

void writeTrace(const std::string &path, const Executor &exec, int rank,
                int worldSize, const std::string &backend,
                const std::string &plan) {
  std::ofstream out(path, std::ios::binary);
  check(out.good(), "cannot write the profile trace ", path);
  out << "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"plan\":" << quoted(plan)
      << ",\"backend\":" << quoted(backend) << ",\"rank\":" << rank
      << ",\"world_size\":" << worldSize
      << ",\"clock\":\"host steady clock; step times from the backend's "
         "timeline\"},\"traceEvents\":[";
  Writer w{out, rank};
  w.metadata("process_name",
             "rank " + std::to_string(rank) + " (" + backend + ")");
  w.metadata("thread_name", "steps, in issue order");
  const auto &events = exec.profileEvents();
  for (size_t i = 0; i < events.size();) {
    // One run: the events of one function's run, in step order.
    size_t end = i;
    while (end < events.size() && events[end].function == events[i].function &&
           events[end].run == events[i].run)
      ++end;
    const int64_t start = events[i].startNs;
    const int64_t stop = events[end - 1].startNs + events[end - 1].ns;
    w.complete(*events[i].function + " run " + std::to_string(events[i].run) +
                   (events[i].run == 0 ? " (warm-up)" : ""),
               "run", start, stop - start, runArgs(events[i]));
    for (; i < end; ++i) {
      const Executor::ProfileEvent &e = events[i];
      w.complete(e.step->op, e.step->family, e.startNs, e.ns,
                 runArgs(e) + ",\"instr\":" + std::to_string(e.step->instr) +
                     ",\"shape\":" + quoted(e.step->shape) +
                     ",\"dtype\":" + quoted(dtypeName(e.step->dtype)));
    }
  }
  out << "\n]}\n";
  out.flush();
  check(out.good(), "cannot write the profile trace ", path);
}

} // namespace fresco::run
