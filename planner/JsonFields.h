//===- JsonFields.h - Checked fields of a planner JSON file -----*- C++ -*-===//
//
// Topology and calibration files are written by hand or by another tool:
// every field is read through here, so a missing or mistyped one is an
// error naming the file and the field, never a nlohmann exception.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_PLANNER_JSONFIELDS_H
#define FRESCO_PLANNER_JSONFIELDS_H

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace fresco::planner {

class JsonFields {
public:
  JsonFields(const nlohmann::json &j, std::string where);
  /// Parses `text` (bounded nesting); `where` names it in errors.
  static JsonFields parse(const std::string &text, const std::string &where);

  bool has(const char *key) const { return j_.contains(key); }
  std::vector<std::string> keys() const;
  std::string string(const char *key) const;
  double number(const char *key) const;
  double positive(const char *key) const;
  /// A number >= 0; `fallback` when absent and fallback >= 0.
  double nonNegative(const char *key, double fallback = -1) const;
  /// A number in (0, 1]; `fallback` when absent.
  double fraction(const char *key, double fallback) const;
  /// An integer in [lo, hi]; `fallback`-free unless `optional` (then lo).
  int64_t count(const char *key, int64_t lo, int64_t hi,
                bool optional = false) const;
  /// A boolean; `fallback` when absent.
  bool flag(const char *key, bool fallback) const;
  JsonFields object(const char *key) const;
  /// The elements of an array of objects.
  std::vector<JsonFields> objects(const char *key) const;

private:
  const nlohmann::json &field(const char *key) const;
  std::shared_ptr<nlohmann::json> owned_;
  const nlohmann::json &j_;
  std::string where_;
};

} // namespace fresco::planner

#endif // FRESCO_PLANNER_JSONFIELDS_H
