// The run checksum (experiments/src/io/run_checksum.*). That the Python reader computes the same checksum,
// and that merge, train, a sweep resume and the reader refuse a run that does not match it, is
// robust.run_checksum's part.
#include <gtest/gtest.h>

#include <string>

#include "experiments/src/io/layout.hpp"
#include "experiments/src/io/run_checksum.hpp"

namespace {

namespace lo = sbx::io::layout;

sbx::io::RunRecord small_record() {
  sbx::io::RunRecord r;
  r.name = "run-a";  // (with "a", GCC 12 warns falsely here: -Wrestrict)
  r.attributes.emplace_back("task", sbx::io::AttributeValue(std::in_place_type<std::string>, "teacher"));
  r.set("steps", std::int64_t{3});
  r.set("lr", 0.01);
  r.steps = {0, 1, 2};
  r.series_named("loss") = {1.0, 0.5, 0.25};
  r.int_series_named("eval/step") = {0, 3};
  r.params_final.emplace_back("W_Q", Eigen::MatrixXd::Constant(2, 3, 0.5));
  return r;
}

TEST(RunChecksum, Crc32IsZlibs) {
  const std::string text = "123456789";  // the CRC-32 check value
  EXPECT_EQ(sbx::io::crc32(0, text.data(), text.size()), 0xCBF43926u);
  // In pieces, as zlib's crc32(crc, ...) chains.
  EXPECT_EQ(sbx::io::crc32(sbx::io::crc32(0, text.data(), 4), text.data() + 4, 5), 0xCBF43926u);
}

TEST(RunChecksum, EightHexDigitsIndependentOfOrderAndOfAStoredChecksum) {
  const sbx::io::RunRecord r = small_record();
  const std::string sum = sbx::io::run_checksum(r);
  EXPECT_EQ(sum.size(), 8u);
  EXPECT_EQ(sum.find_first_not_of("0123456789abcdef"), std::string::npos);
  sbx::io::RunRecord reordered = r;  // HDF5 may list attributes in another order than they were written in
  std::swap(reordered.attributes.front(), reordered.attributes.back());
  EXPECT_EQ(sbx::io::run_checksum(reordered), sum);
  sbx::io::RunRecord with_old = r;  // a record read back carries the checksum it was stored with
  with_old.set(lo::run::checksum, std::string("00000000"));
  EXPECT_EQ(sbx::io::run_checksum(with_old), sum);
}

TEST(RunChecksum, EveryKindOfItemCounts) {
  const std::string sum = sbx::io::run_checksum(small_record());
  auto changed = [&](auto&& change) {
    sbx::io::RunRecord r = small_record();
    change(r);
    return sbx::io::run_checksum(r) != sum;
  };
  EXPECT_TRUE(changed([](auto& r) { r.set("task", std::string("teachex")); }));
  EXPECT_TRUE(changed([](auto& r) { r.set("steps", std::int64_t{4}); }));
  EXPECT_TRUE(changed([](auto& r) { r.set("lr", 0.010000000000000002); }));
  EXPECT_TRUE(changed([](auto& r) { r.set("lr", std::int64_t{0}); }));  // the type counts too
  EXPECT_TRUE(changed([](auto& r) { r.steps[2] = 3; }));
  EXPECT_TRUE(changed([](auto& r) { r.series_named("loss")[1] = 0.5000000000000001; }));
  EXPECT_TRUE(changed([](auto& r) { r.int_series_named("eval/step")[1] = 2; }));
  EXPECT_TRUE(changed([](auto& r) { r.params_final[0].second(1, 2) = 0.25; }));
  EXPECT_TRUE(changed([](auto& r) { r.params_final[0].second.resize(3, 2); r.params_final[0].second.setConstant(0.5); }));
  EXPECT_TRUE(changed([](auto& r) { r.params_init = r.params_final; }));  // the same matrix under another name
  EXPECT_TRUE(changed([](auto& r) { r.set("extra", 0.0); }));
}

}  // namespace
