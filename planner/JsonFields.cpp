//===- JsonFields.cpp - Checked fields of a planner JSON file -------------===//
#include "planner/JsonFields.h"

#include "runtime/core/BoundedJson.h"
#include "runtime/core/Error.h"

#include <cmath>

namespace fresco::planner {

JsonFields::JsonFields(const nlohmann::json &j, std::string where)
    : j_(j), where_(std::move(where)) {
  check(j_.is_object(), where_, ": expected a JSON object");
}

JsonFields JsonFields::parse(const std::string &text,
                             const std::string &where) {
  auto owned = std::make_shared<nlohmann::json>();
  try {
    *owned = parseBoundedJson(text);
  } catch (const nlohmann::json::exception &e) {
    fail(where, ": not valid JSON: ", e.what());
  }
  JsonFields f(*owned, where);
  f.owned_ = owned;
  return f;
}

std::vector<std::string> JsonFields::keys() const {
  std::vector<std::string> out;
  for (auto it = j_.begin(); it != j_.end(); ++it)
    out.push_back(it.key());
  return out;
}

const nlohmann::json &JsonFields::field(const char *key) const {
  check(j_.contains(key), where_, ": missing field '", key, "'");
  return j_.at(key);
}

std::string JsonFields::string(const char *key) const {
  const nlohmann::json &v = field(key);
  check(v.is_string(), where_, ": '", key, "' must be a string");
  return v.get<std::string>();
}

double JsonFields::number(const char *key) const {
  const nlohmann::json &v = field(key);
  check(v.is_number() && std::isfinite(v.get<double>()), where_, ": '", key,
        "' must be a finite number");
  return v.get<double>();
}

double JsonFields::positive(const char *key) const {
  double v = number(key);
  check(v > 0, where_, ": '", key, "' must be positive, got ", v);
  return v;
}

double JsonFields::nonNegative(const char *key, double fallback) const {
  if (!j_.contains(key) && fallback >= 0)
    return fallback;
  double v = number(key);
  check(v >= 0, where_, ": '", key, "' must be >= 0, got ", v);
  return v;
}

double JsonFields::fraction(const char *key, double fallback) const {
  if (!j_.contains(key))
    return fallback;
  double v = number(key);
  check(v > 0 && v <= 1, where_, ": '", key, "' must be in (0, 1], got ", v);
  return v;
}

int64_t JsonFields::count(const char *key, int64_t lo, int64_t hi,
                          bool optional) const {
  if (optional && !j_.contains(key))
    return lo;
  const nlohmann::json &v = field(key);
  check(v.is_number_integer() && v.get<int64_t>() >= lo &&
            v.get<int64_t>() <= hi,
        where_, ": '", key, "' must be an integer in ", lo, "..", hi);
  return v.get<int64_t>();
}

bool JsonFields::flag(const char *key, bool fallback) const {
  if (!j_.contains(key))
    return fallback;
  const nlohmann::json &v = field(key);
  check(v.is_boolean(), where_, ": '", key, "' must be true or false");
  return v.get<bool>();
}

JsonFields JsonFields::object(const char *key) const {
  const nlohmann::json &v = field(key);
  check(v.is_object(), where_, ": '", key, "' must be an object");
  JsonFields f(v, where_ + ", " + key);
  f.owned_ = owned_;
  return f;
}

std::vector<JsonFields> JsonFields::objects(const char *key) const {
  const nlohmann::json &v = field(key);
  check(v.is_array(), where_, ": '", key, "' must be an array");
  std::vector<JsonFields> out;
  for (size_t i = 0; i < v.size(); ++i) {
    check(v[i].is_object(), where_, ": ", key, "[", i, "] must be an object");
    JsonFields f(v[i], where_ + ", " + key + "[" + std::to_string(i) + "]");
    f.owned_ = owned_;
    out.push_back(f);
  }
  return out;
}

} // namespace fresco::planner
