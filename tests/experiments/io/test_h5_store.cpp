// Tests of the HDF5 storage layer. The on-disk layout is checked with h5py (tests/experiments/io/read_layout_check.py)
// because "what h5py sees" is the contract with the analysis scripts.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "experiments/src/io/file_lock.hpp"
#include "experiments/src/io/h5_store.hpp"
#include "tests/support/test_support.hpp"
#include "experiments/src/user_error.hpp"

namespace {

namespace fs = std::filesystem;
using sbx::UserError;
using namespace sbx::io;

const std::string kChecker = SANDBOX_SOURCE_DIR "/tests/experiments/io/read_layout_check.py";

bool have_h5py() {
  static const bool ok = std::system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0;
  return ok;
}

#define REQUIRE_H5PY() \
  if (!have_h5py()) GTEST_SKIP() << "/usr/bin/python3 cannot import h5py"

// Runs the h5py checker with the given arguments; returns its exit status (0 = check passed).
int run_checker(const std::vector<std::string>& args) {
  std::string command = "/usr/bin/python3 '" + kChecker + "'";
  for (const auto& arg : args) command += " '" + arg + "'";  // test arguments never contain quotes
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

using sbx::test::read_bytes;

// M(i, j) = 10 i + j + 0.5, the pattern the h5py checker expects.
Eigen::MatrixXd pattern_matrix(int rows, int cols) {
  Eigen::MatrixXd m(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) m(i, j) = 10.0 * i + j + 0.5;
  return m;
}

herr_t print_stack(hid_t stack, void*) { return H5Eprint2(stack, stderr); }

// Runs fn and expects a one-line UserError containing `needle`, with nothing printed on stderr even
// though HDF5's automatic error printing is switched back on first (the code under test must silence it).
template <class F>
std::string expect_user_error(F&& fn, const std::string& needle) {
  H5Eset_auto2(H5E_DEFAULT, print_stack, nullptr);
  testing::internal::CaptureStderr();
  std::string message = "<no exception>";
  try {
    fn();
  } catch (const UserError& e) {
    message = e.what();
  } catch (const std::exception& e) {
    message = std::string("<not a UserError> ") + e.what();
  }
  const std::string printed = testing::internal::GetCapturedStderr();
  EXPECT_NE(message.find(needle), std::string::npos) << "message: " << message << "\nexpected to contain: " << needle;
  EXPECT_EQ(message.find("<not a UserError>"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "message is not one line: " << message;
  EXPECT_EQ(printed, "") << "stderr was written";
  return message;
}

class H5Store : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return scratch_.path(name); }

  // Creates `name` through a committed transaction that runs fill(file).
  template <class F>
  std::string make_file(const std::string& name, F&& fill) {
    H5Transaction tx(path(name));
    fill(tx.file());
    tx.commit();
    return path(name);
  }

  sbx::test::TempDir scratch_{"sbx_h5_store"};
  const fs::path& dir_ = scratch_.dir();
};

// ---- Matrices -----------------------------------------------------------------------------------

TEST_F(H5Store, NonSquareMatrixRoundTrip) {
  const Eigen::MatrixXd m = pattern_matrix(3, 5);
  const std::string file = make_file("m.h5", [&](H5::H5File& f) {
    write_matrix(f, "params/W_Q", m);
    write_matrix(f, "params/W_T", m.transpose());
  });
  H5Reader reader(file);
  EXPECT_EQ(reader.shape("/params/W_Q"), (std::vector<hsize_t>{3, 5}));
  const Eigen::MatrixXd back = reader.read_matrix("/params/W_Q");
  ASSERT_EQ(back.rows(), 3);
  ASSERT_EQ(back.cols(), 5);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j) EXPECT_EQ(back(i, j), m(i, j)) << i << "," << j;
  EXPECT_EQ(reader.read_matrix("params/W_T"), m.transpose());
}

TEST_F(H5Store, MatrixLayoutSeenByH5py) {
  REQUIRE_H5PY();
  const std::string file = make_file("m.h5", [&](H5::H5File& f) { write_matrix(f, "W", pattern_matrix(3, 5)); });
  EXPECT_EQ(run_checker({"matrix", file, "/W", "3", "5"}), 0);
}

TEST_F(H5Store, WriteMatrixReplacesExistingDataset) {
  const std::string file = make_file("m.h5", [&](H5::H5File& f) {
    write_matrix(f, "W", pattern_matrix(2, 2));
    write_matrix(f, "W", pattern_matrix(4, 1));
  });
  EXPECT_EQ(H5Reader(file).read_matrix("W"), pattern_matrix(4, 1));
}

TEST_F(H5Store, Read3dWrittenByH5py) {
  REQUIRE_H5PY();
  const std::string file = path("x.h5");
  ASSERT_EQ(run_checker({"write3d", file, "/inputs/X", "2", "3", "4"}), 0);
  H5Reader reader(file);
  hsize_t batch = 0, n = 0;
  const Eigen::MatrixXd rows = reader.read_3d_as_rows("/inputs/X", batch, n);
  EXPECT_EQ(batch, 2u);
  EXPECT_EQ(n, 3u);
  ASSERT_EQ(rows.rows(), 6);
  ASSERT_EQ(rows.cols(), 4);
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(rows(b * 3 + i, k), 100.0 * b + 10.0 * i + k) << b << i << k;
}

// ---- Attributes and scalars -----------------------------------------------------------------------

TEST_F(H5Store, AttributesHaveTheTypesH5pyExpects) {
  REQUIRE_H5PY();
  const std::string utf8 = "d\xc3\xa9j\xc3\xa0 vu \xe2\x9c\x93";  // "déjà vu ✓"
  const std::string file = make_file("a.h5", [&](H5::H5File& f) {
    set_attr(f, "name", "first");  // replaced below
    set_attr(f, "name", utf8);
    set_attr(f, "steps", std::int64_t{1} << 40);
    set_attr(f, "small", 7);  // plain int literal: must compile and be stored as int64
    set_attr(f, "lr", 0.125);
    write_matrix(f, "runs/a/W", pattern_matrix(1, 1));
    set_attr(f.openDataSet("runs/a/W"), "kind", std::string("weights"));
    write_scalar_dataset(f, "runs/a/loss", 2.5);
  });
  EXPECT_EQ(run_checker({"attr", file, "/", "name", "str", utf8}), 0);
  EXPECT_EQ(run_checker({"attr", file, "/", "steps", "int", std::to_string(std::int64_t{1} << 40)}), 0);
  EXPECT_EQ(run_checker({"attr", file, "/", "small", "int", "7"}), 0);
  EXPECT_EQ(run_checker({"attr", file, "/", "lr", "float", "0.125"}), 0);
  EXPECT_EQ(run_checker({"attr", file, "/runs/a/W", "kind", "str", "weights"}), 0);

  H5Reader reader(file);
  EXPECT_EQ(reader.read_string_attr("/", "name"), utf8);
  EXPECT_EQ(reader.read_int_attr("/", "steps"), std::int64_t{1} << 40);
  EXPECT_EQ(reader.read_int_attr("/", "small"), 7);
  EXPECT_EQ(reader.read_double_attr("/", "lr"), 0.125);
  EXPECT_EQ(reader.read_double_attr("/", "small"), 7.0);
  EXPECT_EQ(reader.read_string_attr("/runs/a/W", "kind"), "weights");
  EXPECT_TRUE(reader.has_attr("/", "lr"));
  EXPECT_FALSE(reader.has_attr("/", "nope"));
  EXPECT_FALSE(reader.has_attr("/missing/group", "lr"));
  EXPECT_EQ(reader.shape("/runs/a/loss"), std::vector<hsize_t>{});
  EXPECT_EQ(reader.read_scalar("/runs/a/loss"), 2.5);
}

TEST_F(H5Store, AttributeReadErrorsNameFileAndAttribute) {
  const std::string file = make_file("a.h5", [&](H5::H5File& f) {
    set_attr(f, "lr", 0.5);
    set_attr(f, "name", "x");
  });
  H5Reader reader(file);
  expect_user_error([&] { reader.read_double_attr("/", "missing"); }, file + ": attribute 'missing' of / is missing");
  expect_user_error([&] { reader.read_int_attr("/", "lr"); }, file + ": attribute 'lr' of / has type float");
  expect_user_error([&] { reader.read_double_attr("/", "name"); }, "'name'");
  expect_user_error([&] { reader.read_string_attr("/nope", "x"); }, file + ": /nope is missing");
}

// A variable-length string attribute whose global-heap reference is nil (what a flipped byte made of
// `scale` in a grad input of the damaged-files fuzz, FUZZ_SEED=1208314059, variant 135): HDF5 reads it as a
// null pointer, on which its C++ wrapper crashed (strlen). A UserError naming the attribute instead.
TEST_F(H5Store, NullVariableLengthStringAttributeIsAnErrorNotACrash) {
  const std::string file = make_file("null.h5", [&](H5::H5File& f) {
    const H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
    const H5::Attribute attr = f.createAttribute("scale", type, H5::DataSpace(H5S_SCALAR));
    const char* none = nullptr;
    ASSERT_GE(H5Awrite(attr.getId(), type.getId(), &none), 0);
  });
  H5Reader reader(file);
  expect_user_error([&] { reader.read_string_attr("/", "scale"); }, file + ": attribute 'scale' of / is damaged");
}

// A datatype whose size field a flipped bit made 2 GiB + 8 (FUZZ_SEED=1208314059, base variant 191):
// refused before HDF5 allocates a conversion buffer of that size (which took seconds, and under load
// made robust.damaged_files time out).
TEST_F(H5Store, NumbersOfADamagedHugeSizeAreRefusedBeforeReading) {
  const std::string file = make_file("huge.h5", [&](H5::H5File& f) {
    H5::FloatType huge(H5::PredType::IEEE_F64LE);
    huge.setSize((hsize_t{1} << 31) + 8);
    const hsize_t dims[2] = {4, 16};
    f.createDataSet("W", huge, H5::DataSpace(2, dims));  // never written: no storage of that size
  });
  H5Reader reader(file);
  expect_user_error([&] { reader.read_matrix("/W"); }, file + ": /W is damaged: its numbers claim 2147483656 bytes each");
}

// The global heap collection of a variable-length string with its free-space object's size zeroed: HDF5
// 1.10's parser loops forever on it (what one flipped bit did to a grad input in the damaged-files fuzz). The
// read runs in a child with a 20 s alarm, so that the old hang fails this test instead of stalling it.
TEST_F(H5Store, GlobalHeapThatWouldHangHdf5IsRefused) {
  const std::string file = make_file("heap.h5", [&](H5::H5File& f) { set_attr(f, "scale", std::string("sqrt")); });
  std::string bytes = read_bytes(file);
  const std::size_t at = bytes.find("GCOL");
  ASSERT_NE(at, std::string::npos);
  auto le64 = [&](std::size_t i) {
    std::uint64_t v = 0;
    for (int k = 7; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(bytes[i + static_cast<std::size_t>(k)]);
    return v;
  };
  const std::size_t free_space = at + 16 + 16 + ((le64(at + 16 + 8) + 7) & ~std::size_t{7});  // after object 1
  ASSERT_EQ(bytes[free_space], 0);  // index 0: the free space
  ASSERT_GT(le64(free_space + 8), 0u);
  std::fill_n(bytes.begin() + static_cast<std::ptrdiff_t>(free_space + 8), 8, '\0');
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(20);
    try {
      H5Reader(file).read_string_attr("/", "scale");
    } catch (const UserError& e) {
      _exit(std::string(e.what()).find(file + ": is damaged (its global heap at byte " + std::to_string(at)) == 0 ? 0 : 2);
    }
    _exit(3);  // read without complaint
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_FALSE(WIFSIGNALED(status)) << "the read died of signal " << WTERMSIG(status) << " (14: it hung)";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: another error than the damaged heap, 3: no error";
}

// A chunked series whose extent a flipped byte made 301989891 (found by the damaged-files fuzz; it stores 33
// bytes): refused before HDF5 fills hundreds of millions of missing values for minutes.
TEST_F(H5Store, ChunkedSeriesClaimingFarMoreThanItStoresIsRefused) {
  const std::string file = make_file("long.h5", [&](H5::H5File& f) {
    H5::DSetCreatPropList plist;
    const hsize_t chunk[1] = {3}, dims[1] = {301989891};
    plist.setChunk(1, chunk);
    f.createDataSet("loss", H5::PredType::IEEE_F64LE, H5::DataSpace(1, dims), plist);  // no chunk written
  });
  H5Reader reader(file);
  expect_user_error([&] { reader.read_vector("/loss"); }, file + ": /loss is damaged: it claims 301989891 values but stores 0 bytes");
}

// ---- Series -------------------------------------------------------------------------------------

TEST_F(H5Store, SeriesWriterAppendsAcrossFlushes) {
  REQUIRE_H5PY();
  const std::string file = make_file("s.h5", [&](H5::H5File& f) {
    SeriesWriter loss(f, "runs/a/loss", SeriesType::Float64, /*chunk=*/4);
    SeriesWriter step(f, "runs/a/step", SeriesType::Int64, /*chunk=*/4);
    int k = 0;
    for (const int batch : {10, 7, 3}) {  // automatic flushes every 4 values, explicit ones in between
      for (int i = 0; i < batch; ++i, ++k) {
        loss.append(1.5 * k);
        step.append(3 * k);
      }
      loss.flush();
      step.flush();
    }
    EXPECT_EQ(loss.size(), 20u);
    EXPECT_THROW(step.append(1.0), std::logic_error);
  });
  EXPECT_EQ(run_checker({"series", file, "/runs/a/loss", "float", "20"}), 0);
  EXPECT_EQ(run_checker({"series", file, "/runs/a/step", "int", "20"}), 0);
  H5Reader reader(file);
  const auto steps = reader.read_int_vector("runs/a/step");
  ASSERT_EQ(steps.size(), 20u);
  EXPECT_EQ(steps[19], 57);
  EXPECT_EQ(reader.read_vector("runs/a/loss").at(19), 1.5 * 19);
}

TEST_F(H5Store, SeriesWriterContinuesAnExistingSeries) {
  REQUIRE_H5PY();
  const auto append_range = [&](int from, int to) {
    make_file("s.h5", [&](H5::H5File& f) {
      SeriesWriter loss(f, "loss", SeriesType::Float64);
      for (int k = from; k < to; ++k) loss.append(1.5 * k);
      loss.flush();
    });
  };
  append_range(0, 5);
  append_range(5, 12);
  EXPECT_EQ(run_checker({"series", path("s.h5"), "/loss", "float", "12"}), 0);
}

TEST_F(H5Store, WholeVectorsAreWrittenAsSeries) {
  REQUIRE_H5PY();
  std::vector<double> loss;
  std::vector<std::int64_t> steps;
  for (int k = 0; k < 2500; ++k) {  // more than one chunk
    loss.push_back(1.5 * k);
    steps.push_back(3 * k);
  }
  const std::string file = make_file("v.h5", [&](H5::H5File& f) {
    write_vector(f, "grad_norm/loss", loss);
    write_int_vector(f, "grad_norm/step", steps);
    write_vector(f, "empty", {});
  });
  EXPECT_EQ(run_checker({"series", file, "/grad_norm/loss", "float", "2500"}), 0);
  EXPECT_EQ(run_checker({"series", file, "/grad_norm/step", "int", "2500"}), 0);
  EXPECT_EQ(run_checker({"series", file, "/empty", "float", "0"}), 0);
  H5Reader reader(file);
  EXPECT_EQ(reader.read_vector("grad_norm/loss"), loss);
  EXPECT_EQ(reader.read_int_vector("grad_norm/step"), steps);
  EXPECT_TRUE(reader.read_vector("empty").empty());
}

// ---- Transactions -------------------------------------------------------------------------------

TEST_F(H5Store, TransactionWithoutCommitLeavesFileUntouched) {
  const std::string file = make_file("run.h5", [&](H5::H5File& f) { write_matrix(f, "keep/W", pattern_matrix(2, 3)); });
  const std::string before = read_bytes(file);
  {
    H5Transaction tx(file);
    write_matrix(tx.file(), "new/W", pattern_matrix(4, 4));
    delete_path(tx.file(), "keep");
    // The edit is in memory; only the lock file is next to the final file while it lasts.
    EXPECT_EQ(scratch_.listing(), (std::vector<std::string>{short_stem(file) + ".lock", "run.h5"}));
  }
  EXPECT_EQ(read_bytes(file), before);
  EXPECT_EQ(scratch_.listing(), std::vector<std::string>{"run.h5"});
}

TEST_F(H5Store, TransactionCommitReplacesAtomicallyAndKeepsOtherGroups) {
  const std::string file = make_file("run.h5", [&](H5::H5File& f) {
    write_matrix(f, "runs/a/W", pattern_matrix(2, 3));
    set_attr(f, "version", "1");
  });
  const std::string before = read_bytes(file);
  struct stat st_before {};
  ASSERT_EQ(::stat(file.c_str(), &st_before), 0);

  H5Transaction tx(file);
  // A handle still open at commit(): HDF5 would normally keep the file open for it and write more
  // metadata when it is released, i.e. after the rename, into the final file.
  std::optional<H5::Group> still_open = tx.file().createGroup("runs/b");
  write_matrix(*still_open, "W", pattern_matrix(3, 2));
  EXPECT_EQ(read_bytes(file), before) << "nothing reaches the final file before commit";
  tx.commit();
  const std::string temp = fs::path(tx.temp_path()).filename().string();
  EXPECT_EQ(temp.rfind(short_stem(file) + ".tmp-" + std::to_string(::getpid()) + "-", 0), 0u) << temp;
  const std::string committed = read_bytes(file);
  still_open.reset();
  EXPECT_EQ(read_bytes(file), committed) << "the file changed after commit()";

  struct stat st_after {};
  ASSERT_EQ(::stat(file.c_str(), &st_after), 0);
  EXPECT_NE(st_after.st_ino, st_before.st_ino) << "the final file must be replaced by rename, not rewritten";
  EXPECT_EQ(scratch_.listing(), (std::vector<std::string>{short_stem(file) + ".lock", "run.h5"}))
      << "no temp file after commit; the lock is held until the transaction ends";
  H5Reader reader(file);
  EXPECT_EQ(reader.list_groups("/runs"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(reader.read_matrix("runs/a/W"), pattern_matrix(2, 3));
  EXPECT_EQ(reader.read_matrix("runs/b/W"), pattern_matrix(3, 2));
  EXPECT_EQ(reader.read_string_attr("/", "version"), "1");
  EXPECT_THROW(tx.commit(), std::logic_error);
}

TEST_F(H5Store, KilledWriterLeavesFinalFileUntouchedAndItsTempIsRemoved) {
  const std::string file = make_file("run.h5", [&](H5::H5File& f) { write_matrix(f, "W", pattern_matrix(2, 2)); });
  const std::string before = read_bytes(file);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // the child writes half a run and is killed before committing
    try {
      H5Transaction tx(file);
      write_matrix(tx.file(), "W", pattern_matrix(50, 50));
      tx.file().flush(H5F_SCOPE_GLOBAL);
      ::raise(SIGKILL);
    } catch (...) {
    }
    ::_exit(3);  // never return into the test runner from the child
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(read_bytes(file), before);
  EXPECT_EQ(scratch_.listing(), (std::vector<std::string>{short_stem(file) + ".lock", "run.h5"}))
      << "the killed child held the lock; its edit was in memory, so no temp file";
  EXPECT_EQ(H5Reader(file).read_matrix("W"), pattern_matrix(2, 2));
  // A dead holder's lock file does not block: flock locks die with their process.
  H5Transaction tx(file, /*lock_timeout_seconds=*/5);
  write_matrix(tx.file(), "V", pattern_matrix(1, 2));
  tx.commit();
  EXPECT_EQ(H5Reader(file).read_matrix("V"), pattern_matrix(1, 2));
}

TEST_F(H5Store, RemoveStaleTempsKeepsLiveProcessesAndOtherFiles) {
  const pid_t dead = ::fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);  // reaped: kill(dead, 0) now fails with ESRCH

  const std::string dead_temp = short_stem("run.h5") + ".tmp-" + std::to_string(dead) + "-0badc0de";
  const std::string live_temp = short_stem("run.h5") + ".tmp-" + std::to_string(::getpid()) + "-0badc0de";
  const std::string other_run = short_stem("other.h5") + ".tmp-" + std::to_string(dead) + "-0badc0de";
  for (const auto& name : {dead_temp, live_temp, other_run, std::string("run.h5")}) std::ofstream(path(name)) << "x";
  remove_stale_temps(path("run.h5"));
  std::vector<std::string> expected = {live_temp, other_run, "run.h5"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(scratch_.listing(), expected);
}

TEST_F(H5Store, CopyGroupMergesRunsAndDeletePathRemoves) {
  const std::string src = make_file("src.h5", [&](H5::H5File& f) {
    write_matrix(f, "runs/a/W", pattern_matrix(2, 3));
    set_attr(f.openGroup("runs/a"), "seed", 42);
  });
  const std::string dst =
      make_file("dst.h5", [&](H5::H5File& f) { write_matrix(f, "runs/b/W", pattern_matrix(1, 2)); });
  {
    H5Reader from(src);
    H5Transaction tx(dst);
    copy_group(from.file(), "/runs/a", tx.file(), "/runs/a");
    copy_group(from.file(), "/runs/a", tx.file(), "/archive/2024/a");  // intermediate groups created
    expect_user_error([&] { copy_group(from.file(), "/runs/a", tx.file(), "/runs/b"); },
                      dst + ": /runs/b already exists");
    expect_user_error([&] { copy_group(from.file(), "/runs/zz", tx.file(), "/runs/zz"); },
                      src + ": group /runs/zz is missing");
    EXPECT_TRUE(delete_path(tx.file(), "runs/b"));
    EXPECT_FALSE(delete_path(tx.file(), "runs/b"));
    EXPECT_FALSE(delete_path(tx.file(), "no/such/path"));
    tx.commit();
  }
  H5Reader reader(dst);
  EXPECT_EQ(reader.list_groups("/runs"), std::vector<std::string>{"a"});
  EXPECT_EQ(reader.list_groups("/archive/2024"), std::vector<std::string>{"a"});
  EXPECT_EQ(reader.read_matrix("/archive/2024/a/W"), pattern_matrix(2, 3));
  EXPECT_EQ(reader.read_int_attr("/runs/a", "seed"), 42);
}

// ---- Bad files and paths ------------------------------------------------------------------------

TEST_F(H5Store, NonHdf5FileIsRejectedWithoutCreatingAnything) {
  const std::string file = path("notes.h5");
  std::ofstream(file) << "just some text, long enough to look like a file\n";
  const auto before = scratch_.listing();
  expect_user_error([&] { H5Reader r(file); }, file + ": not an HDF5 file");
  expect_user_error([&] { H5Transaction tx(file); }, file + ": not an HDF5 file");
  EXPECT_EQ(scratch_.listing(), before);
}

TEST_F(H5Store, TruncatedHdf5FileIsRejectedWithoutCreatingAnything) {
  const std::string file = make_file("run.h5", [&](H5::H5File& f) { write_matrix(f, "W", pattern_matrix(100, 100)); });
  fs::resize_file(file, fs::file_size(file) / 2);
  const auto before = scratch_.listing();
  expect_user_error([&] { H5Reader r(file); }, file + ": cannot be read as HDF5");
  expect_user_error([&] { H5Transaction tx(file); }, file + ": cannot be read as HDF5");
  EXPECT_EQ(scratch_.listing(), before);
}

TEST_F(H5Store, MissingFileDirectoryAndMissingParentAreRejected) {
  fs::create_directory(path("subdir"));
  const std::string missing_parent = path("no_such_dir/run.h5");
  expect_user_error([&] { H5Reader r(path("missing.h5")); }, path("missing.h5") + ": no such file");
  expect_user_error([&] { H5Reader r(path("subdir")); }, path("subdir"));
  expect_user_error([&] { H5Transaction tx(path("subdir")); }, path("subdir") + ": is a directory");
  expect_user_error([&] { H5Reader r(missing_parent); }, missing_parent + ": no such file");
  expect_user_error([&] { H5Transaction tx(missing_parent); }, missing_parent + ": directory");
  EXPECT_EQ(scratch_.listing(), std::vector<std::string>{"subdir"});
  EXPECT_TRUE(fs::is_empty(path("subdir")));
}

TEST_F(H5Store, ReaderErrorsNameFileAndDataset) {
  const std::string file = make_file("in.h5", [&](H5::H5File& f) {
    write_matrix(f, "inputs/X", pattern_matrix(3, 4));
    write_int_vector(f, "steps", {1, 2});
    set_attr(f, "note", "x");
    f.link(H5L_TYPE_SOFT, "/nowhere", "dangling");
    f.link(H5L_TYPE_SOFT, "/inputs", "alias");
  });
  H5Reader reader(file);
  hsize_t batch = 0, n = 0;
  expect_user_error([&] { reader.read_matrix("/params/W_Q"); }, file + ": dataset /params/W_Q is missing");
  expect_user_error([&] { reader.read_3d_as_rows("/inputs/X", batch, n); },
                    file + ": /inputs/X has shape (3, 4) but must be 3-D");
  expect_user_error([&] { reader.read_vector("/inputs/X"); }, file + ": /inputs/X has shape (3, 4) but must be 1-D");
  expect_user_error([&] { reader.read_matrix("/steps"); }, file + ": /steps has shape (2,) but must be 2-D");
  expect_user_error([&] { reader.read_int_vector("/inputs"); }, file + ": /inputs is not a dataset");
  expect_user_error([&] { reader.list_groups("/nope"); }, file + ": group /nope is missing");
  EXPECT_EQ(batch, 0u);
  EXPECT_TRUE(reader.exists("/inputs/X"));
  EXPECT_TRUE(reader.exists("inputs"));
  EXPECT_TRUE(reader.exists("/"));
  EXPECT_FALSE(reader.exists("/runs/a/grad_norm/W_Q"));  // missing intermediate groups
  EXPECT_FALSE(reader.exists("/inputs/X/deeper"));       // a dataset in the middle of the path
  EXPECT_FALSE(reader.exists("/dangling"));              // a soft link to nothing
  EXPECT_TRUE(reader.exists("/alias/X"));                // a soft link to a group on the way
  EXPECT_EQ(reader.list_groups("/"), (std::vector<std::string>{"alias", "inputs"}));  // not "dangling"
}

TEST_F(H5Store, WriteErrorsNameTheFinalFileNotTheTemp) {
  const std::string file = path("w.h5");
  H5Transaction tx(file);
  write_matrix(tx.file(), "inputs/X", pattern_matrix(3, 4));
  const std::string message = expect_user_error([&] { write_matrix(tx.file(), "inputs/X/sub", pattern_matrix(1, 1)); },
                                                file + ": /inputs/X/sub");
  EXPECT_EQ(message.find(".tmp-"), std::string::npos) << message;
  expect_user_error([&] { write_matrix(tx.file(), "inputs", pattern_matrix(1, 1)); },
                    file + ": /inputs exists and is not a dataset");
  expect_user_error([&] { SeriesWriter w(tx.file(), "inputs/X", SeriesType::Float64); },
                    file + ": /inputs/X exists but is not an extendable 1-D float64 series");
}

TEST_F(H5Store, NonNumericAndHugeDatasetsAreRejected) {
  const std::string file = make_file("odd.h5", [&](H5::H5File& f) {
    const hsize_t dims[2] = {hsize_t{1} << 16, hsize_t{1} << 16};  // 2^32 elements, never written
    const hsize_t chunk[2] = {64, 64};
    H5::DSetCreatPropList dcpl;
    dcpl.setChunk(2, chunk);
    f.createDataSet("huge", H5::PredType::IEEE_F64LE, H5::DataSpace(2, dims), dcpl);
    const hsize_t two[2] = {1, 2};
    f.createDataSet("text", H5::StrType(H5::PredType::C_S1, 8), H5::DataSpace(2, two));
  });
  H5Reader reader(file);
  expect_user_error([&] { reader.read_matrix("huge"); }, file + ": /huge is too large");
  expect_user_error([&] { reader.read_matrix("text"); }, file + ": /text has type string");
}

TEST_F(H5Store, VersionStrings) {
  EXPECT_EQ(hdf5_version_string(), std::to_string(H5_VERS_MAJOR) + "." + std::to_string(H5_VERS_MINOR) + "." +
                                       std::to_string(H5_VERS_RELEASE));
  EXPECT_EQ(eigen_version_string().rfind("3.4.", 0), 0u) << eigen_version_string();
}

}  // namespace

namespace {

// A child process that holds the lock on `target` in `mode` until the parent writes to `release`.
pid_t hold_lock_in_child(const std::string& target, FileLock::Mode mode, int ready_fd, int release_fd) {
  const pid_t child = ::fork();
  if (child != 0) return child;
  {
    FileLock lock(target, mode, 5);
    char c = 'r';
    if (::write(ready_fd, &c, 1) != 1) ::_exit(3);
    if (::read(release_fd, &c, 1) != 1) ::_exit(4);
  }
  ::_exit(0);
}

}  // namespace

TEST_F(H5Store, ExclusiveLockTimesOutNamingItsHolderAndSharedLocksCoexist) {
  const std::string target = path("run.h5");
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  const pid_t child = hold_lock_in_child(target, FileLock::Mode::Exclusive, ready[1], release[0]);
  ASSERT_GT(child, 0);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);  // the child holds the lock now
  testing::internal::CaptureStderr();
  std::string message;
  try {
    FileLock waiting(target, FileLock::Mode::Exclusive, 0.2);
  } catch (const LockTimeout& e) {
    message = e.what();
  }
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_NE(message.find("still locked by process " + std::to_string(child)), std::string::npos) << message;
  EXPECT_EQ(said, "sandbox: waiting for " + target + ", locked by process " + std::to_string(child) + "\n");
  EXPECT_THROW(FileLock(target, FileLock::Mode::Shared, 0.05), LockTimeout) << "a reader waits for a writer";
  ASSERT_EQ(::write(release[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(scratch_.listing(), std::vector<std::string>{}) << "the last holder removes the lock file";
  {
    FileLock first(target, FileLock::Mode::Shared, 0);
    FileLock second(target, FileLock::Mode::Shared, 0);  // readers do not wait for each other
    EXPECT_THROW(FileLock(target, FileLock::Mode::Exclusive, 0), LockTimeout);
  }
  EXPECT_EQ(scratch_.listing(), std::vector<std::string>{});
  FileLock after(target, FileLock::Mode::Exclusive, 0);  // free again
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
}

TEST_F(H5Store, TransactionThroughASymlinkReplacesTheTargetAndKeepsTheLink) {
  const std::string real = make_file("real.h5", [&](H5::H5File& f) { write_matrix(f, "A", pattern_matrix(1, 1)); });
  fs::create_symlink("real.h5", path("link.h5"));
  H5Transaction tx(path("link.h5"));
  write_matrix(tx.file(), "B", pattern_matrix(2, 1));
  tx.commit();
  EXPECT_TRUE(fs::is_symlink(path("link.h5")));
  EXPECT_EQ(H5Reader(real).read_matrix("B"), pattern_matrix(2, 1));
  EXPECT_EQ(H5Reader(path("link.h5")).read_matrix("A"), pattern_matrix(1, 1));
}

TEST_F(H5Store, TempAndLockNamesAreShortForTheLongestLegalName) {
  const std::string name(250, 'n');  // 255 is the limit of most file systems
  EXPECT_LT(short_stem(name).size() + std::string(".tmp-4194304-01234567").size(), 64u);
  const std::string file = make_file(name + ".h5", [&](H5::H5File& f) { write_matrix(f, "A", pattern_matrix(1, 1)); });
  EXPECT_EQ(H5Reader(file).read_matrix("A"), pattern_matrix(1, 1));
}
