#include "rflow/io/safetensors.h"
#include "rflow/core/tensor_util.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "rflow/core/error.h"
#include "rflow/io/atomic_file.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rflow::io safetensors copies little-endian bytes verbatim; big-endian hosts unsupported"
#endif

namespace fs = std::filesystem;

namespace rflow::io {

namespace {

// Same cap as the reference implementation: a larger header is corrupt or hostile.
constexpr std::uint64_t kMaxHeaderLen = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";
constexpr const char* kResaveHint = "the file is corrupt or not safetensors; export it again";

struct DtypeEntry {
  const char* name;
  at::ScalarType type;
  std::size_t itemsize;
};

const DtypeEntry kDtypes[] = {
    {"F32", at::kFloat, 4}, {"F64", at::kDouble, 8}, {"F16", at::kHalf, 2},
    {"BF16", at::kBFloat16, 2}, {"I64", at::kLong, 8}, {"I32", at::kInt, 4},
    {"I16", at::kShort, 2}, {"I8", at::kChar, 1}, {"U8", at::kByte, 1},
    {"BOOL", at::kBool, 1},
};

const DtypeEntry* dtype_by_name(const std::string& name) {
  for (const DtypeEntry& e : kDtypes)
    if (name == e.name) return &e;
  return nullptr;
}

const DtypeEntry* dtype_by_type(at::ScalarType t) {
  for (const DtypeEntry& e : kDtypes)
    if (t == e.type) return &e;
  return nullptr;
}

std::string where_tensor(const std::string& path, const std::string& name) {
  return path + " (tensor '" + name + "')";
}

// JSON numbers come in three flavours; only non-negative integers are valid sizes and offsets.
std::uint64_t json_uint(const nlohmann::ordered_json& v, const std::string& field,
                        const std::string& where) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  RF_CHECK(!(v.is_number_integer() && v.get<std::int64_t>() < 0),
           field + " contains a negative value " + v.dump(), where, kResaveHint);
  throw Error(field + " must contain non-negative integers, found " + v.dump(), where,
              kResaveHint);
}

struct Entry {
  std::string name;
  const DtypeEntry* dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin, end;
};

Entry parse_entry(const std::string& name, const nlohmann::ordered_json& j, std::uint64_t buffer_size,
                  const std::string& path) {
  const std::string where = where_tensor(path, name);
  RF_CHECK(j.is_object(), "header entry is not a JSON object", where, kResaveHint);
  Entry e{name, nullptr, {}, 0, 0};

  const auto dt = j.find("dtype");
  RF_CHECK(dt != j.end() && dt->is_string(), "missing or non-string \"dtype\"", where,
           kResaveHint);
  e.dtype = dtype_by_name(dt->get<std::string>());
  RF_CHECK(e.dtype != nullptr, "unknown dtype \"" + dt->get<std::string>() + "\"", where,
           "supported: F32 F64 F16 BF16 I64 I32 I16 I8 U8 BOOL; convert the tensor before export");

  const auto sh = j.find("shape");
  RF_CHECK(sh != j.end() && sh->is_array(), "missing or non-array \"shape\"", where, kResaveHint);
  std::uint64_t numel = 1;
  bool has_zero = false;
  for (const auto& d : *sh) {
    const std::uint64_t v = json_uint(d, "\"shape\"", where);
    RF_CHECK(v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
             "shape dimension " + std::to_string(v) + " does not fit in 64 bits", where,
             kResaveHint);
    e.shape.push_back(static_cast<std::int64_t>(v));
    has_zero |= v == 0;
  }
  // An empty dimension makes the tensor empty whatever the others claim.
  if (has_zero) {
    numel = 0;
  } else {
    for (std::int64_t d : e.shape)
      RF_CHECK(!__builtin_mul_overflow(numel, static_cast<std::uint64_t>(d), &numel),
               "shape " + shape_str(e.shape) + " has too many elements to address", where,
               kResaveHint);
  }
  std::uint64_t nbytes = 0;
  RF_CHECK(!__builtin_mul_overflow(numel, static_cast<std::uint64_t>(e.dtype->itemsize), &nbytes),
           "shape " + shape_str(e.shape) + " times item size overflows", where, kResaveHint);

  const auto off = j.find("data_offsets");
  RF_CHECK(off != j.end() && off->is_array() && off->size() == 2,
           "\"data_offsets\" must be an array [begin, end]", where, kResaveHint);
  e.begin = json_uint((*off)[0], "\"data_offsets\"", where);
  e.end = json_uint((*off)[1], "\"data_offsets\"", where);
  RF_CHECK(e.begin <= e.end,
           "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
               "] has begin after end",
           where, kResaveHint);
  RF_CHECK(e.end <= buffer_size,
           "data_offsets end " + std::to_string(e.end) + " is past the end of the data buffer (" +
               std::to_string(buffer_size) + " bytes)",
           where, "the file is truncated or corrupt; export it again");
  RF_CHECK(e.end - e.begin == nbytes,
           "data_offsets span " + std::to_string(e.end - e.begin) + " bytes but dtype " +
               e.dtype->name + " with shape " + shape_str(e.shape) + " needs " +
               std::to_string(nbytes),
           where, kResaveHint);
  return e;
}

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header[kMetadataKey] = std::move(meta);
  }

  std::set<std::string> seen;
  std::vector<at::Tensor> cpu;
  cpu.reserve(tensors.size());
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const std::string where = where_tensor(path, name);
    RF_CHECK(!name.empty(), "tensor name is empty", path, "give every tensor a name");
    RF_CHECK(name != kMetadataKey, "tensor name \"__metadata__\" is reserved", where,
             "rename the tensor");
    RF_CHECK(seen.insert(name).second, "duplicate tensor name", where,
             "give every tensor a unique name");
    RF_CHECK(t.defined(), "tensor is undefined", where, "pass a tensor with data");
    const DtypeEntry* dt = dtype_by_type(t.scalar_type());
    RF_CHECK(dt != nullptr,
             std::string("dtype ") + c10::toString(t.scalar_type()) +
                 " cannot be stored in safetensors",
             where, "convert first, e.g. t.to(torch::kFloat32)");
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const std::uint64_t nbytes = static_cast<std::uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", dt->name},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    cpu.push_back(std::move(c));
  }

  std::string json;
  try {
    json = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("cannot encode header: ") + e.what(), path,
                "tensor names and metadata must be valid UTF-8");
  }
  // The reference implementation pads with spaces so the data buffer starts 8-byte aligned.
  json.append((8 - json.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + json.size() + offset);
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((static_cast<std::uint64_t>(json.size()) >> (8 * i)) & 0xff));
  out += json;
  for (const at::Tensor& c : cpu) {
    const std::size_t n = c.numel() * c.element_size();
    if (n > 0) out.append(static_cast<const char*>(c.data_ptr()), n);
  }
  write_file_atomic(path, out);
}

namespace {

// The header text as JSON, with its nesting bounded while parsing.
nlohmann::ordered_json parse_header_json(const std::string& header_text, const std::string& path) {
  // A valid header nests at most three levels (root, entry, shape). Refusing deeper nesting while
  // parsing keeps a header of a million '[' from costing gigabytes of DOM nodes.
  constexpr int kMaxDepth = 8;
  const nlohmann::ordered_json::parser_callback_t depth_guard =
      [&path](int depth, nlohmann::ordered_json::parse_event_t, nlohmann::ordered_json&) {
        RF_CHECK(depth <= kMaxDepth,
                 "header JSON nests deeper than " + std::to_string(kMaxDepth) + " levels", path,
                 kResaveHint);
        return true;
      };
  // ordered_json keeps the file's key order, the tie-break between tensors at the same offset.
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(header_text, depth_guard);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("header is not valid JSON: ") + e.what(), path, kResaveHint);
  }
  RF_CHECK(header.is_object(), "header JSON is not an object", path, kResaveHint);
  return header;
}

// Like the reference loader, require the tensors to tile the buffer exactly: an overlap means two
// tensors alias the same bytes, a gap or trailing bytes mean the header lies about the data.
void check_tiling(std::vector<Entry>& entries, std::uint64_t buffer_size, const std::string& path) {
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t cursor = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    RF_CHECK(e.begin >= cursor,
             "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                 "] overlap tensor '" + (prev ? prev->name : std::string()) + "'",
             where_tensor(path, e.name), kResaveHint);
    RF_CHECK(e.begin == cursor,
             "unused bytes " + std::to_string(cursor) + ".." + std::to_string(e.begin) +
                 " before this tensor's data",
             where_tensor(path, e.name), kResaveHint);
    cursor = e.end;
    prev = &e;
  }
  RF_CHECK(cursor == buffer_size,
           "data buffer has " + std::to_string(buffer_size) + " bytes but the tensors cover " +
               std::to_string(cursor) + " (extra trailing bytes)",
           path, kResaveHint);
}

// Every size is proven to match bytes on disk before this runs, so allocation is bounded by the file.
void read_tensors(std::ifstream& in, const std::vector<Entry>& entries, std::uint64_t data_start,
                  const std::string& path, SafetensorsData& out) {
  out.tensors.reserve(entries.size());
  for (const Entry& e : entries) {
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype->type));
    const std::uint64_t n = e.end - e.begin;
    if (n > 0) {
      in.seekg(static_cast<std::streamoff>(data_start + e.begin));
      in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(n));
      RF_CHECK(in && static_cast<std::uint64_t>(in.gcount()) == n,
               "read " + std::to_string(in.gcount()) + " of " + std::to_string(n) + " bytes",
               where_tensor(path, e.name), "the file may be changing while being read; retry");
    }
    if (e.dtype->type == at::kBool) {
      // Bool bytes other than 0/1 are undefined behaviour for torch kernels.
      const auto* p = static_cast<const unsigned char*>(t.data_ptr());
      for (std::uint64_t i = 0; i < n; ++i)
        RF_CHECK(p[i] <= 1,
                 "bool element " + std::to_string(i) + " has byte value " +
                     std::to_string(p[i]) + " (must be 0 or 1)",
                 where_tensor(path, e.name), kResaveHint);
    }
    out.tensors.emplace_back(e.name, std::move(t));
  }
}

}  // namespace

SafetensorsData load_safetensors(const std::string& path) {
  check_readable_file(path);
  std::error_code ec;
  const std::uint64_t file_size = fs::file_size(path, ec);
  RF_CHECK(!ec, "cannot get file size: " + ec.message(), path, "check file permissions");
  RF_CHECK(file_size >= 8,
           "file is only " + std::to_string(file_size) + " bytes, too short to be safetensors",
           path, kResaveHint);

  std::ifstream in(path, std::ios::binary);
  RF_CHECK(in.is_open(), "cannot open file for reading", path, "check file permissions");
  unsigned char len_le[8];
  in.read(reinterpret_cast<char*>(len_le), 8);
  RF_CHECK(in.gcount() == 8, "cannot read header length", path, "check file permissions");
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_le[i];
  RF_CHECK(header_len <= file_size - 8,
           "header length " + std::to_string(header_len) + " runs past the end of the file (" +
               std::to_string(file_size) + " bytes)",
           path, "the file is truncated or not safetensors; export it again");
  RF_CHECK(header_len <= kMaxHeaderLen,
           "header length " + std::to_string(header_len) + " exceeds the 100 MB limit", path,
           kResaveHint);
  const std::uint64_t data_start = 8 + header_len;
  const std::uint64_t buffer_size = file_size - data_start;

  std::string header_text(static_cast<std::size_t>(header_len), '\0');
  in.read(header_text.data(), static_cast<std::streamsize>(header_len));
  RF_CHECK(static_cast<std::uint64_t>(in.gcount()) == header_len, "cannot read header", path,
           "check file permissions");

  const nlohmann::ordered_json header = parse_header_json(header_text, path);

  SafetensorsData out;
  out.path = path;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == kMetadataKey) {
      RF_CHECK(it->is_object(), "\"__metadata__\" is not a JSON object", path, kResaveHint);
      for (auto m = it->begin(); m != it->end(); ++m) {
        RF_CHECK(m->is_string(), "metadata value for \"" + m.key() + "\" is not a string", path,
                 "safetensors metadata maps strings to strings");
        out.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(it.key(), *it, buffer_size, path));
  }

  check_tiling(entries, buffer_size, path);
  read_tensors(in, entries, data_start, path, out);
  return out;
}

at::Tensor find_tensor(const SafetensorsData& data, const std::string& name) {
  for (const auto& [n, t] : data.tensors)
    if (n == name) return t;
  std::string names;
  std::size_t shown = 0;
  for (const auto& [n, t] : data.tensors) {
    if (shown == 50) {
      names += ", ... (" + std::to_string(data.tensors.size() - shown) + " more)";
      break;
    }
    names += (shown++ ? ", " : "") + n;
  }
  throw Error("no tensor named '" + name + "'; available: " + (names.empty() ? "(none)" : names),
              data.path.empty() ? std::string("safetensors") : data.path,
              "check the tensor name or the checkpoint's version");
}

}  // namespace rflow::io
