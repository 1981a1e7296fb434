// Tests of the layout table (experiments/src/io/layout.*): the trainer writes exactly what the table
// names, the run validator (io/run_check.cpp) holds a run to the table, and no name is defined twice.
// tests/experiments/sqrtdk/test_layout.py checks that the README and the Python reader agree with the same table.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <set>
#include <string>

#include "experiments/src/io/h5_store.hpp"
#include "experiments/src/io/layout.hpp"
#include "experiments/src/io/run_check.hpp"
#include "experiments/src/io/run_checksum.hpp"
#include "experiments/src/io/run_file.hpp"
#include "experiments/src/train/option_table.hpp"
#include "experiments/src/train/trainer.hpp"
#include "tests/support/test_support.hpp"

namespace {

namespace fs = std::filesystem;
namespace lo = sbx::io::layout;

sbx::RunConfig small_run() {
  sbx::RunConfig c;
  c.task = "recall";  // classifies: accuracy, eval/accuracy
  c.scale = "learned";  // the scale series
  c.heads = 2;  // head<i>/ series
  c.d_model = 8;
  c.seq_len = 5;
  c.batch = 3;
  c.steps = 4;
  c.log_every = 2;
  c.eval_batches = 1;
  c.gradcheck = false;
  return c;
}

sbx::io::RunRecord trained() { return sbx::train_run(small_run(), [] { return false; }).record; }

bool is_placeholder_row(const lo::Entry& e) { return e.path == lo::kRunOptionRow || e.path == lo::kTaskAttributeRow; }

TEST(Layout, PlaceholdersMatchOneNameComponent) {
  const lo::Entry* head = lo::find(lo::kRunSection, "head3/attn_entropy", lo::Kind::Dataset);
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->path, "head<i>/attn_entropy");
  EXPECT_EQ(lo::find(lo::kRunSection, "attn_entropy", lo::Kind::Dataset)->path, "attn_entropy");
  EXPECT_EQ(lo::find(lo::kRunSection, "grad_norm/W_Q", lo::Kind::Dataset)->path, "grad_norm/<param>");
  EXPECT_EQ(lo::find(lo::kRunSection, "grad_norm/a/b", lo::Kind::Dataset), nullptr);
  EXPECT_EQ(lo::find(lo::kRunSection, "grad_norm/", lo::Kind::Dataset), nullptr);
  EXPECT_EQ(lo::find(lo::kRunSection, "params/W_O", lo::Kind::Dataset)->length, lo::Length::Matrix);
  EXPECT_EQ(lo::find(lo::kRunSection, "loss", lo::Kind::Attribute), nullptr);  // a dataset, not an attribute
  EXPECT_EQ(lo::find(lo::kTheorySection, "sqrt/entropy_mean", lo::Kind::Dataset)->path, "<scale>/entropy_mean");
  EXPECT_EQ(lo::find(lo::kScalingSection, "flops", lo::Kind::Dataset)->path, "flops");  // exact before <variable>
}

TEST(Layout, NothingIsListedTwice) {
  std::set<std::string> seen;
  for (const lo::Entry& e : lo::entries())
    EXPECT_TRUE(seen.insert(e.section + " " + lo::kind_name(e.kind) + " " + e.path).second) << "listed twice: " << e.path;
  // The run options' attributes come from the option table alone; the layout's own attributes are others.
  ASSERT_EQ(lo::run_options().size(), sbx::run_options().size()) << "the option table did not register its attributes";
  for (const lo::OptionAttribute& o : lo::run_options())
    EXPECT_EQ(lo::find(lo::kRunSection, o.name, lo::Kind::Attribute), nullptr) << o.name << " is both an option and a layout row";
  // The one option the layout's rules refer to by name is one.
  EXPECT_TRUE(std::any_of(lo::run_options().begin(), lo::run_options().end(),
                          [](const lo::OptionAttribute& o) { return o.name == lo::run::steps_option; }));
}

TEST(Layout, TheTrainerWritesWhatTheTableNamesAndEverythingItRequires) {
  const sbx::io::RunRecord record = trained();
  std::vector<std::pair<std::string, lo::Type>> datasets = {{lo::run::step, lo::Type::Int64}};
  for (const auto& [name, values] : record.series) datasets.emplace_back(name, lo::Type::Float64);
  for (const auto& [name, values] : record.int_series) datasets.emplace_back(name, lo::Type::Int64);
  for (const auto& [name, m] : record.params_init) datasets.emplace_back(std::string(lo::run::params_init) + "/" + name, lo::Type::Float64);
  for (const auto& [name, m] : record.params_final) datasets.emplace_back(std::string(lo::run::params) + "/" + name, lo::Type::Float64);
  std::set<std::string> rows;
  for (const auto& [name, type] : datasets) {
    const lo::Entry* e = lo::find(lo::kRunSection, name, lo::Kind::Dataset);
    ASSERT_NE(e, nullptr) << "the trainer writes " << name << ", which the layout table does not name";
    EXPECT_EQ(e->type, type) << name;
    rows.insert(e->path);
  }
  // This configuration has every conditional series of the attention models (the language model's own
  // rows, "model lm", are checked on an lm run by tests/experiments/cli/lm_test.sh).
  for (const lo::Entry& e : lo::entries()) {
    if (e.section == lo::kRunSection && e.kind == lo::Kind::Dataset && e.when.rfind("model lm", 0) != 0) {
      EXPECT_TRUE(rows.count(e.path)) << "no dataset of the run is " << e.path;
    }
  }
  for (const auto& [key, value] : record.attributes) {
    const bool option = std::any_of(lo::run_options().begin(), lo::run_options().end(),
                                    [&, &k = key](const lo::OptionAttribute& o) { return o.name == k; });
    EXPECT_TRUE(option || lo::find(lo::kRunSection, key, lo::Kind::Attribute)) << "attribute " << key << " is not in the layout";
  }
  for (const lo::Entry& e : lo::entries()) {
    // The checksum is not the trainer's: write_run_group computes it from the record as it writes it.
    if (e.section == lo::kRunSection && e.kind == lo::Kind::Attribute && e.when.empty() && !is_placeholder_row(e) &&
        e.path != lo::run::checksum) {
      EXPECT_NE(record.get(e.path), nullptr) << "the run has no attribute " << e.path;
    }
  }
}

class RunValidator : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (dir_ / "runs.h5").string();
    record_ = trained();
    sbx::io::save_runs(path_, {record_}, false);
    fs::copy_file(path_, dir_ / "pristine.h5");
  }

  // What the validator says of the run after `edit` changed its group (in a fresh copy of the saved file).
  std::string problem_after(const std::function<void(H5::Group&)>& edit) {
    fs::copy_file(dir_ / "pristine.h5", path_, fs::copy_options::overwrite_existing);
    {
      H5::H5File file(path_, H5F_ACC_RDWR);
      H5::Group group = file.openGroup(lo::run::path(record_.name));
      edit(group);
    }
    const sbx::io::H5Reader reader(path_);
    return sbx::io::run_problem(reader, record_.name);
  }

  sbx::test::TempDir scratch_{"sbx_layout"};
  const fs::path& dir_ = scratch_.dir();
  std::string path_;
  sbx::io::RunRecord record_;
};

TEST_F(RunValidator, AnIntactRunPasses) { EXPECT_EQ(problem_after([](H5::Group&) {}), ""); }

TEST_F(RunValidator, ARequiredDatasetOfTheTableIsMissing) {
  EXPECT_EQ(problem_after([](H5::Group& g) { sbx::io::delete_path(g, lo::run::attn_max); }), "dataset attn_max is missing");
}

// What later versions added (q_grad/, eval/, config, most options) is checked when there: a run of an
// older version is not damaged for lacking it (and is not dropped by a sweep that rebuilds the file).
TEST_F(RunValidator, WhatOlderVersionsDidNotWriteMayBeMissing) {
  EXPECT_EQ(problem_after([](H5::Group& g) {
              for (const char* later : {lo::run::q_grad_median, lo::run::eval_step, lo::run::eval_loss, lo::run::eval_accuracy})
                sbx::io::delete_path(g, later);
              g.removeAttr(lo::run::config);
              g.removeAttr("warmup_steps");
              g.removeAttr(lo::run::checksum);  // older versions wrote none
            }),
            "");
  EXPECT_EQ(problem_after([](H5::Group& g) { sbx::io::write_int_vector(g, lo::run::q_grad_median, {1, 2, 3}); }),
            "dataset q_grad/median is an integer, expected float64");
}

// A value changed after writing, which every check of the table passes, fails the run's checksum; a run
// without one (older versions) is not checked.
TEST_F(RunValidator, AChangedValueFailsTheChecksum) {
  const auto lr_changed = [](H5::Group& g) { sbx::io::set_attr(g, "lr", 0.5); };
  EXPECT_EQ(problem_after(lr_changed).rfind("its content does not match its checksum: stored ", 0), 0u) << problem_after(lr_changed);
  EXPECT_EQ(problem_after([&](H5::Group& g) {
              lr_changed(g);
              g.removeAttr(lo::run::checksum);
            }),
            "");
  EXPECT_EQ(problem_after([](H5::Group& g) { sbx::io::set_attr(g, lo::run::checksum, "not hex!"); }),
            "attribute checksum is not 8 hex digits");
  // Without a checksum, a config that no longer matches its config_hash is still found.
  EXPECT_EQ(problem_after([](H5::Group& g) {
              sbx::io::set_attr(g, lo::run::config, std::string("lr = 0.5\n"));
              g.removeAttr(lo::run::checksum);
            }),
            "attribute config_hash does not match config, so one of them changed after it was written");
  // Written again from what load_run reads back (as merge does), a run keeps its checksum.
  const sbx::io::H5Reader reader((dir_ / "pristine.h5").string());
  EXPECT_EQ(sbx::io::run_checksum(sbx::io::load_run(reader, record_.name)), reader.read_string_attr(lo::run::path(record_.name), lo::run::checksum));
}

TEST_F(RunValidator, EveryDatasetOfARequiredPatternIsMissing) {
  EXPECT_EQ(problem_after([](H5::Group& g) { sbx::io::delete_path(g, "grad_norm"); }), "dataset grad_norm/<param> is missing");
}

TEST_F(RunValidator, ASeriesOfTheWrongType) {
  EXPECT_EQ(problem_after([](H5::Group& g) { sbx::io::write_int_vector(g, lo::run::attn_max, {1, 2, 3}); }),
            "dataset attn_max is an integer, expected float64");
}

TEST_F(RunValidator, ASeriesOfTheWrongLengthForItsClock) {
  EXPECT_EQ(problem_after([](H5::Group& g) { sbx::io::write_vector(g, lo::run::head_series(1, lo::run::attn_entropy), {1.0}); }),
            "dataset head1/attn_entropy has 1 values but step has 3");
  EXPECT_EQ(problem_after([](H5::Group& g) { sbx::io::write_vector(g, lo::run::eval_accuracy, {0.5, 0.5, 0.5, 0.5, 0.5}); }),
            "dataset eval/accuracy has 5 values but eval/step has 2");
}

TEST_F(RunValidator, AMatrixThatIsNotTwoDimensional) {
  const std::string problem =
      problem_after([](H5::Group& g) { sbx::io::write_vector(g, std::string(lo::run::params) + "/W_Q", {1.0, 2.0}); });
  EXPECT_NE(problem.find("params/W_Q"), std::string::npos) << problem;
}

TEST_F(RunValidator, ALayoutAttributeOfTheWrongTypeOrMissing) {
  EXPECT_EQ(problem_after([](H5::Group& g) {
              g.removeAttr(lo::run::status);
              sbx::io::set_attr(g, lo::run::status, std::int64_t{1});
            }),
            "attribute status is an integer, expected str");
  EXPECT_EQ(problem_after([](H5::Group& g) { g.removeAttr(lo::run::gradcheck_max_error); }), "attribute gradcheck_max_error is missing");
}

TEST_F(RunValidator, AnOptionalAttributeIsCheckedWhenPresent) {
  EXPECT_EQ(problem_after([](H5::Group& g) { sbx::io::set_attr(g, lo::run::sweep_ini, 2.5); }),
            "attribute sweep_ini is a float, expected str");
}

TEST_F(RunValidator, ARunOptionAttributeFromTheOptionTable) {
  EXPECT_EQ(problem_after([](H5::Group& g) { g.removeAttr(lo::run::steps_option); }), "attribute 'steps' of /runs/" + record_.name + " is missing");
  EXPECT_EQ(problem_after([](H5::Group& g) {
              g.removeAttr("lr");
              sbx::io::set_attr(g, "lr", std::nan(""));
            }),
            "attribute lr is not finite");
  EXPECT_EQ(problem_after([](H5::Group& g) {
              g.removeAttr("warmup_steps");
              sbx::io::set_attr(g, "warmup_steps", 1.5);
            }),
            "attribute warmup_steps is a float, expected int64");
}

}  // namespace
