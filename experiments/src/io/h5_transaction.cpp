#include "experiments/src/io/h5_store.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <optional>
#include <random>
#include <sstream>

#include "experiments/src/io/file_lock.hpp"
#include "experiments/src/io/h5_checks.hpp"
#include "experiments/src/io/h5_common.hpp"
#include "experiments/src/io/h5_structure.hpp"
#include "experiments/src/user_error.hpp"

// The transaction and its lock: an all-or-nothing edit of one file, in memory, written to a temporary
// file and renamed over the final path.

namespace sbx::io {
namespace {

using namespace detail;
namespace fs = std::filesystem;

struct TempName {
  std::string stem;
  pid_t pid;
};

// Recognises our temp files "<stem>.tmp-<pid>-<random>", stem = short_stem(final file).
std::optional<TempName> parse_temp_name(const std::string& filename) {
  const auto pos = filename.rfind(".tmp-");
  if (filename.empty() || filename[0] != '.' || pos == std::string::npos || pos < 2) return std::nullopt;
  const std::string rest = filename.substr(pos + 5);
  const auto dash = rest.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == rest.size()) return std::nullopt;
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + dash, pid);
  if (ec != std::errc() || end != rest.data() + dash || pid <= 0) return std::nullopt;
  return TempName{filename.substr(0, pos), pid};
}

// Checks that final_path can be the target of a transaction; throws UserError otherwise.
void check_target(const std::string& final_path) {
  const fs::path target(final_path);
  std::error_code ec;
  if (fs::is_directory(target, ec)) throw UserError(final_path + ": is a directory");
  if (target.filename().empty()) throw UserError(final_path + ": not a file name");
  const fs::path dir = parent_dir(target);
  if (!fs::exists(dir, ec)) throw UserError(final_path + ": directory " + dir.string() + " does not exist");
  if (!fs::is_directory(dir, ec)) throw UserError(final_path + ": " + dir.string() + " is not a directory");
  const long name_max = ::pathconf(dir.c_str(), _PC_NAME_MAX);
  if (name_max > 0 && target.filename().string().size() > static_cast<std::size_t>(name_max))
    throw UserError(final_path + ": file name too long (" + std::to_string(target.filename().string().size()) +
                    " characters; this file system allows " + std::to_string(name_max) + ")");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw UserError(final_path + ": directory " + dir.string() + " is not writable (" + std::strerror(errno) + ")");
  if (fs::exists(target, ec)) {
    // The directory lets us replace the file by a rename, but the file says we may not change it.
    if (::access(final_path.c_str(), W_OK) != 0)
      throw UserError(final_path + ": is not writable (" + std::strerror(errno) + "); it was left as it is");
    open_existing(final_path).close();
  }
}

// "<dir>/.sbx-<hash>.tmp-<pid>-<random>": short whatever the length of the final name.
std::string make_temp_path(const std::string& final_path) {
  std::random_device rd;
  std::ostringstream name;
  name << short_stem(final_path) << ".tmp-" << ::getpid() << '-' << std::hex << std::setw(8) << std::setfill('0')
       << rd();
  return (parent_dir(final_path) / name.str()).string();
}

// What a failed write means to the user: "no space left on device", "file size limit exceeded", ...
std::string write_failure(int err) {
  switch (err) {
    case ENOSPC: return "no space left on device";
    case EFBIG: return "file size limit exceeded";
    case EDQUOT: return "disk quota exceeded";
    default: {
      std::string text = std::strerror(err);
      if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
      return text;
    }
  }
}

// Writes all of buf to a new file `temp` and syncs it; UserError "<why> while writing <final>" otherwise.
void write_image(const std::string& temp, const std::string& final_path, const std::vector<unsigned char>& buf) {
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw UserError(write_failure(errno) + " while creating a temporary file for " + final_path);
  // The rename replaces the file: the replacement gets its permissions, so that a private (0600) file
  // stays private.
  struct stat old {};
  if (::stat(final_path.c_str(), &old) == 0 && ::fchmod(fd, old.st_mode & 07777) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    throw UserError(final_path + ": cannot give the new file the old one's permissions: " + std::strerror(err));
  }
  std::size_t done = 0;
  int err = 0;
  while (done < buf.size() && err == 0) {
    const ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
    if (n > 0) done += static_cast<std::size_t>(n);
    else if (n < 0 && errno != EINTR) err = errno;
    else if (n == 0) err = EIO;
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(temp.c_str());
    throw UserError(write_failure(err) + " while writing " + final_path);
  }
}

void fsync_path(const std::string& path, bool directory, const std::string& final_path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) throw UserError(final_path + ": cannot open " + path + " to sync it: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some filesystems cannot fsync a directory (EINVAL); the rename is then as durable as it gets.
  if (rc != 0 && !(directory && err == EINVAL))
    throw UserError(final_path + ": cannot sync " + path + " to disk: " + std::strerror(err));
}

// A zombie counts as dead: a writer killed with its parent (its save runs in a child that dies with the
// parent) stays a zombie until some init reaps it, which in a container may be late or never, and its
// temporary file must not be kept for that.
bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // no /proc: trust kill()
  const auto paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

}  // namespace

void check_writable_target(const std::string& path) {
  silence_hdf5_errors();
  check_target(resolve_target(path));
}

// ---- H5Transaction ----------------------------------------------------------------------------------

H5Transaction::H5Transaction(const std::string& path, double lock_timeout_seconds, bool start_empty)
    : final_path_(resolve_target(path)) {
  silence_hdf5_errors();
  // A notebook with the file open for writing: HDF5 would not open the file meanwhile, and its changes
  // would be lost by the rename. Wait for it to close, as for another sandbox (and again once locked).
  wait_for_other_writers(final_path_, lock_timeout_seconds);
  check_target(final_path_);
  // Held until the destructor: from here on no other sandbox edits the file, so what is read below is
  // what the rename replaces.
  lock_ = std::make_unique<FileLock>(final_path_, FileLock::Mode::Exclusive, lock_timeout_seconds);
  wait_for_other_writers(final_path_, lock_timeout_seconds);
  remove_stale_temps(final_path_);
  std::error_code ec;
  const bool existing = fs::exists(final_path_, ec) && !start_empty;
  if (fs::exists(final_path_, ec)) open_existing(final_path_).close();  // one clear message if it is not HDF5
  // The edit happens in memory (HDF5's core driver, no backing store) and commit() writes the image with
  // plain write() calls: a full disk or a size limit is then an error code, never a half-failed HDF5 file
  // whose close crashes. The strong close degree makes commit()'s close() really close the file even if
  // the caller still holds groups or datasets.
  H5::FileAccPropList fapl;
  fapl.setFcloseDegree(H5F_CLOSE_STRONG);
  fapl.setCore(1 << 20, /*backing_store=*/false);
  if (existing) {
    // Handed to HDF5 as a file image, so that HDF5 never opens (and flock()s) the final file itself:
    // readers of it are never turned away while we edit.
    const std::vector<char> bytes = read_file_bytes(final_path_);
    refuse_looping_global_heaps(bytes, final_path_);
    refuse_unsafe_structure(bytes, final_path_);  // the very bytes HDF5 gets (open_existing checked the file once)
    if (H5Pset_file_image(fapl.getId(), const_cast<char*>(bytes.data()), bytes.size()) < 0)
      throw UserError(final_path_ + ": cannot open it for editing");
  }
  guarded(final_path_ + ": cannot open it for editing", [&] {
    const std::string name = final_path_ + kEditSuffix;
    file_ = std::make_unique<H5::H5File>(name, existing ? H5F_ACC_RDWR : H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, fapl);
  });
}

namespace {
std::atomic<bool> g_abandoned{false};
}  // namespace

bool hdf5_file_abandoned() { return g_abandoned.load(); }

void H5Transaction::close_or_abandon() {
  if (!file_) return;
  try {
    file_->close();
    file_.reset();
  } catch (const H5::Exception&) {
    (void)file_.release();  // never close it again (see file_)
    g_abandoned.store(true);
  }
}

H5Transaction::~H5Transaction() { close_or_abandon(); }

H5::H5File& H5Transaction::file() {
  if (committed_ || !file_) throw std::logic_error("H5Transaction::file() after commit() for " + final_path_);
  return *file_;
}

void H5Transaction::commit() {
  if (committed_) throw std::logic_error("H5Transaction::commit() called twice for " + final_path_);
  silence_hdf5_errors();
  std::vector<unsigned char> image;
  guarded(final_path_ + ": cannot finish writing", [&] {
    file().flush(H5F_SCOPE_GLOBAL);
    const ssize_t size = H5Fget_file_image(file().getId(), nullptr, 0);
    if (size < 0) throw UserError(final_path_ + ": cannot finish writing (no file image)");
    image.resize(static_cast<std::size_t>(size));
    if (H5Fget_file_image(file().getId(), image.data(), image.size()) != size)
      throw UserError(final_path_ + ": cannot finish writing (file image)");
  });
  close_or_abandon();
  committed_ = true;
  temp_path_ = make_temp_path(final_path_);
  write_image(temp_path_, final_path_, image);
  if (std::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp_path_.c_str());
    throw UserError(final_path_ + ": cannot replace it with " + temp_path_ + ": " + std::strerror(err));
  }
  fsync_path(parent_dir(final_path_).string(), true, final_path_);
}

void remove_stale_temps(const std::string& final_path) {
  const fs::path target(final_path);
  if (target.filename().empty()) return;
  const std::string stem = short_stem(final_path);
  std::error_code ec;
  for (fs::directory_iterator it(parent_dir(target), ec), end; !ec && it != end; it.increment(ec)) {
    const auto temp = parse_temp_name(it->path().filename().string());
    if (!temp || temp->stem != stem || process_alive(temp->pid)) continue;
    std::error_code ignored;  // best effort: another process may be cleaning up at the same time
    fs::remove(it->path(), ignored);
  }
}

}  // namespace sbx::io
