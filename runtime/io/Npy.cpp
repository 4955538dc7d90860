//===- Npy.cpp - NumPy .npy reader and writer -----------------------------===//
//
// The header is a Python dict literal. Rather than a general evaluator, a
// small parser accepts exactly what numpy writes (and older numpy wrote:
// either quote style, trailing commas, "3L" longs, 0-d "()" shapes) and
// rejects the rest with a message.
//
//===----------------------------------------------------------------------===//
#include "runtime/io/Npy.h"

#include "runtime/core/Error.h"
#include "runtime/io/Safetensors.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "fresco's io layer assumes a little-endian host");

namespace fresco {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

/// Parser for the header dict; every error names the file.
class HeaderParser {
public:
  HeaderParser(const std::string &text, const std::string &file)
      : s_(text), file_(file) {}

  template <typename... Parts> [[noreturn]] void bad(const Parts &...parts) {
    fail(".npy file '", file_, "': ", parts...);
  }

  void skipWs() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' ||
                                s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool peek(char c) {
    skipWs();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  void expect(char c) {
    if (!peek(c))
      bad("malformed header: expected '", c, "' at offset ", pos_, " in ", s_);
    ++pos_;
  }

  std::string parseString() {
    skipWs();
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"'))
      bad("malformed header: expected a string at offset ", pos_, " in ", s_);
    char q = s_[pos_++];
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != q) {
      if (s_[pos_] == '\\' && pos_ + 1 < s_.size())
        ++pos_;
      out += s_[pos_++];
    }
    if (pos_ >= s_.size())
      bad("malformed header: unterminated string in ", s_);
    ++pos_;
    return out;
  }

  bool parseBool() {
    skipWs();
    for (const auto &[word, value] :
         {std::pair<const char *, bool>{"True", true}, {"False", false}}) {
      size_t n = std::strlen(word);
      if (s_.compare(pos_, n, word) == 0) {
        pos_ += n;
        return value;
      }
    }
    bad("malformed header: expected True or False at offset ", pos_, " in ",
        s_);
  }

  int64_t parseInt() {
    skipWs();
    if (pos_ < s_.size() && s_[pos_] == '-')
      bad("header shape has a negative dimension: ", s_);
    if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9')
      bad("malformed header: expected an integer at offset ", pos_, " in ", s_);
    int64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      if (__builtin_mul_overflow(v, int64_t(10), &v) ||
          __builtin_add_overflow(v, int64_t(s_[pos_] - '0'), &v))
        bad("header shape has a dimension too large: ", s_);
      ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'L' || s_[pos_] == 'l'))
      ++pos_; // Python 2 long literal
    return v;
  }

  /// "()", "(3,)", "(2, 3)", "(2, 3,)".
  std::vector<int64_t> parseShape() {
    expect('(');
    std::vector<int64_t> shape;
    while (!peek(')')) {
      shape.push_back(parseInt());
      if (peek(','))
        ++pos_;
      else if (!peek(')'))
        bad("malformed header: expected ',' or ')' in shape at offset ", pos_,
            " in ", s_);
    }
    ++pos_;
    return shape;
  }

  void parse(std::string &descr, bool &fortran, std::vector<int64_t> &shape) {
    bool haveDescr = false, haveFortran = false, haveShape = false;
    expect('{');
    while (!peek('}')) {
      std::string key = parseString();
      expect(':');
      if (key == "descr") {
        if (peek('['))
          bad("structured dtypes are not supported; save a plain array");
        descr = parseString();
        haveDescr = true;
      } else if (key == "fortran_order") {
        fortran = parseBool();
        haveFortran = true;
      } else if (key == "shape") {
        shape = parseShape();
        haveShape = true;
      } else {
        bad("unexpected key '", key, "' in header ", s_);
      }
      if (peek(','))
        ++pos_;
      else if (!peek('}'))
        bad("malformed header: expected ',' or '}' at offset ", pos_, " in ",
            s_);
    }
    ++pos_;
    skipWs();
    if (pos_ != s_.size())
      bad("malformed header: trailing characters after the dict in ", s_);
    if (!haveDescr || !haveFortran || !haveShape)
      bad("header lacks ",
          !haveDescr     ? "'descr'"
          : !haveFortran ? "'fortran_order'"
                         : "'shape'",
          ": ", s_);
  }

private:
  const std::string &s_;
  const std::string &file_;
  size_t pos_ = 0;
};

DType descrToDType(const std::string &descr, const std::string &file) {
  auto bad = [&](const auto &...parts) {
    fail(".npy file '", file, "': ", parts...);
  };
  if (descr.size() < 2)
    bad("unsupported dtype '", descr, "'");
  char order = descr[0];
  std::string code = descr.substr(1);
  if (code == "f8")
    bad("float64 data ('", descr,
        "') is not supported: save it with arr.astype(np.float32)");
  if (order == '>')
    bad("big-endian data ('", descr,
        "') is not supported: save it with arr.astype(arr.dtype.newbyteorder"
        "('<'))");
  if (order == '<' || order == '=') { // '=' is native: little here
    if (code == "f4")
      return DType::F32;
    if (code == "f2")
      return DType::F16;
    if (code == "i8")
      return DType::I64;
    if (code == "i4")
      return DType::I32;
  }
  fail(".npy file '", file, "': unsupported dtype '", descr,
       "' (supported: '<f4', '<f2', '<i8', '<i4')");
}

const char *dtypeToDescr(DType t) {
  switch (t) {
  case DType::F32:
    return "<f4";
  case DType::F16:
    return "<f2";
  case DType::I64:
    return "<i8";
  case DType::I32:
    return "<i4";
  case DType::BF16:
    break;
  }
  return nullptr;
}

} // namespace

std::vector<float> NpyArray::toF32() const {
  const size_t n = data.size() / dtypeSize(dtype);
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    switch (dtype) {
    case DType::F32:
      std::memcpy(&out[i], &data[4 * i], 4);
      break;
    case DType::F16:
      std::memcpy(&h, &data[2 * i], 2);
      out[i] = halfToFloat(h);
      break;
    case DType::BF16:
      std::memcpy(&h, &data[2 * i], 2);
      out[i] = bf16ToFloat(h);
      break;
    default:
      fail("npy array of dtype ", dtypeName(dtype),
           " cannot be converted to f32");
    }
  }
  return out;
}

NpyArray parseNpy(const uint8_t *bytes, size_t size, const std::string &name) {
  auto bad = [&](const auto &...parts) {
    fail(".npy file '", name, "': ", parts...);
  };
  if (size < kMagicLen + 4 || std::memcmp(bytes, kMagic, kMagicLen) != 0)
    bad(size < kMagicLen + 4 ? "too short to be a .npy file"
                             : "not a .npy file (bad magic string)");
  const uint8_t major = bytes[6], minor = bytes[7];
  size_t prefix = 0;
  uint64_t headerLen = 0;
  if (major == 1 && minor == 0) {
    uint16_t n;
    std::memcpy(&n, bytes + 8, 2);
    headerLen = n;
    prefix = 10;
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (size < 12)
      bad("truncated inside the header length");
    uint32_t n;
    std::memcpy(&n, bytes + 8, 4);
    headerLen = n;
    prefix = 12;
  } else {
    bad("unsupported .npy format version ", int(major), ".", int(minor),
        " (supported: 1.0, 2.0, 3.0)");
  }
  if (headerLen > size - prefix)
    bad("header length ", headerLen, " exceeds the ", size - prefix,
        " bytes that follow it: the file is truncated or corrupt");
  const std::string header(reinterpret_cast<const char *>(bytes + prefix),
                           size_t(headerLen));

  std::string descr;
  bool fortran = false;
  NpyArray out;
  HeaderParser(header, name).parse(descr, fortran, out.shape);
  out.dtype = descrToDType(descr, name);
  if (fortran)
    bad("Fortran-order arrays are not supported: save "
        "np.ascontiguousarray(arr) instead");

  uint64_t expected = dtypeSize(out.dtype);
  for (int64_t d : out.shape)
    if (__builtin_mul_overflow(expected, uint64_t(d), &expected))
      bad("shape ", shapeToString(out.shape), " is too large");
  const uint64_t have = size - prefix - headerLen;
  if (have != expected)
    bad("data is ", have, " bytes, but dtype ", descr, " and shape ",
        shapeToString(out.shape), " need ", expected,
        have < expected ? " (the file is truncated)" : "");
  const uint8_t *data = bytes + prefix + headerLen;
  out.data.assign(data, data + expected);
  return out;
}

NpyArray readNpy(const std::string &path) {
  std::unique_ptr<FILE, int (*)(FILE *)> f(std::fopen(path.c_str(), "rb"),
                                           &std::fclose);
  if (!f)
    fail("cannot open .npy file '", path, "': ", std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f.get())) > 0)
    bytes.insert(bytes.end(), buf, buf + n);
  if (std::ferror(f.get()))
    fail("cannot read .npy file '", path, "': ", std::strerror(errno));
  return parseNpy(bytes.data(), bytes.size(), path);
}

namespace {

/// encodeNpy with `what` ("cannot write .npy file 'x'") leading every error.
std::vector<uint8_t> encode(DType dtype, const std::vector<int64_t> &shape,
                            const void *data, const std::string &what) {
  const char *descr = dtypeToDescr(dtype);
  check(descr != nullptr, what, ": numpy has no ", dtypeName(dtype),
        " dtype (convert the data to f32)");
  uint64_t bytes = dtypeSize(dtype);
  for (int64_t d : shape)
    check(d >= 0 && !__builtin_mul_overflow(bytes, uint64_t(d), &bytes), what,
          ": invalid shape ", shapeToString(shape));
  check(bytes == 0 || data != nullptr, what, ": no data");

  // Same text as numpy.save: sorted keys, Python reprs, trailing ", ".
  std::string shapeRepr = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    shapeRepr += (i ? ", " : "") + std::to_string(shape[i]);
  shapeRepr += shape.size() == 1 ? ",)" : ")";
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': " + shapeRepr +
                       ", }";
  // numpy leaves room to grow the first axis in place.
  if (!shape.empty())
    header.append(21 - std::to_string(shape[0]).size(), ' ');
  // Pad with spaces and a final newline so data starts 64-byte aligned
  // (numpy pads a full 64 when already aligned).
  const size_t hlen = header.size() + 1;
  const size_t pad = 64 - (kMagicLen + 2 + 2 + hlen) % 64;
  header.append(pad, ' ');
  header += '\n';
  check(header.size() <= 0xffff, what, ": rank ", shape.size(),
        " is too large for a version 1.0 header");

  std::vector<uint8_t> out(kMagic, kMagic + kMagicLen);
  out.push_back(1);
  out.push_back(0);
  uint16_t len = uint16_t(header.size());
  out.push_back(uint8_t(len & 0xff));
  out.push_back(uint8_t(len >> 8));
  out.insert(out.end(), header.begin(), header.end());
  const uint8_t *p = static_cast<const uint8_t *>(data);
  if (bytes > 0)
    out.insert(out.end(), p, p + bytes);
  return out;
}

} // namespace

std::vector<uint8_t> encodeNpy(DType dtype, const std::vector<int64_t> &shape,
                               const void *data) {
  return encode(dtype, shape, data, "cannot encode .npy data");
}

void writeNpy(const std::string &path, DType dtype,
              const std::vector<int64_t> &shape, const void *data) {
  std::vector<uint8_t> bytes =
      encode(dtype, shape, data, "cannot write .npy file '" + path + "'");
  writeFileAtomically(path, {{bytes.data(), bytes.size()}}, ".npy file");
}

} // namespace fresco
