#include "rflow/io/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "rflow/core/error.h"

namespace fs = std::filesystem;

namespace rflow::io {

namespace {

// pid alone is not unique: several threads of one process may save to the same directory.
std::string temp_name_for(const std::string& path) {
  static std::atomic<std::uint64_t> counter{0};
  return path + ".tmp." + std::to_string(static_cast<long long>(::getpid())) + "." +
         std::to_string(counter.fetch_add(1));
}

void remove_quietly(const std::string& p) {
  std::error_code ec;
  fs::remove(p, ec);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  RF_CHECK(!path.empty(), "empty output path", "write_file_atomic", "pass a file path");
  const fs::path target(path);
  const fs::path parent = target.parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    // create_directories reports no error when the directory already exists, but a regular file
    // in the way only shows up as "not a directory", so test the result explicitly.
    RF_CHECK(!ec && fs::is_directory(parent),
             "cannot create output directory " + parent.string() +
                 (ec ? ": " + ec.message() : std::string(": exists and is not a directory")),
             path, "check the output path and its permissions");
  }

  const std::string tmp = temp_name_for(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out.is_open()) {
      remove_quietly(tmp);
      throw Error("cannot open temporary file " + tmp + " for writing", path,
                  "check that the directory is writable and the disk is not full");
    }
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    const bool ok = out.good();
    out.close();
    if (!ok || out.fail()) {
      remove_quietly(tmp);
      throw Error("failed writing " + std::to_string(bytes.size()) + " bytes to " + tmp, path,
                  "check free disk space and quotas");
    }
  }

  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    remove_quietly(tmp);
    throw Error("cannot move temporary file into place: " + ec.message(), path,
                "check that the path is not a directory and is writable");
  }
}

std::string read_file(const std::string& path, std::uint64_t max_bytes) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  RF_CHECK(!ec && fs::exists(st), "file not found", path, "check the path");
  RF_CHECK(fs::is_regular_file(st), "not a regular file", path, "pass the path of a file");
  const std::uintmax_t size = fs::file_size(path, ec);
  RF_CHECK(!ec, "cannot get file size: " + ec.message(), path, "check file permissions");
  RF_CHECK(size <= max_bytes,
           "file is " + std::to_string(size) + " bytes, more than the limit of " +
               std::to_string(max_bytes),
           path, "check that this is the intended file");

  std::ifstream in(path, std::ios::binary);
  RF_CHECK(in.is_open(), "cannot open file for reading", path, "check file permissions");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  RF_CHECK(static_cast<std::uintmax_t>(in.gcount()) == size,
           "read " + std::to_string(in.gcount()) + " of " + std::to_string(size) + " bytes", path,
           "the file may be changing while being read; retry");
  return bytes;
}

}  // namespace rflow::io
