// Tests of the text corpus and task (models/text_corpus.*, models/tasks/text.cpp): the split, the vocabulary,
// the unigram entropy, the refusals of bad corpora, and batches whose labels are the next characters.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <string>

#include "models/task_registry.hpp"
#include "models/text_corpus.hpp"
#include "tests/support/test_support.hpp"

namespace {

std::string write(const sbx::test::TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.path(name), std::ios::binary) << text;
  return dir.path(name);
}

TEST(TextCorpus, SplitsVocabularyAndEntropy) {
  sbx::test::TempDir dir("text_corpus");
  std::string text;
  for (int i = 0; i < 25; ++i) text += "abca";  // 100 characters: a 50%, b 25%, c 25%
  const auto corpus = models::load_text_corpus(write(dir, "t.txt", text));
  EXPECT_EQ(corpus->vocabulary, (std::vector<unsigned char>{'a', 'b', 'c'}));
  EXPECT_EQ(corpus->train.size(), 90u);
  EXPECT_EQ(corpus->held_out.size(), 10u);
  EXPECT_EQ(corpus->train[0], 0);
  EXPECT_EQ(corpus->train[1], 1);
  EXPECT_EQ(corpus->held_out.back(), 0);
  EXPECT_DOUBLE_EQ(corpus->unigram_entropy_bits, 1.5);
  EXPECT_EQ(models::parse_vocabulary(models::vocabulary_text(corpus->vocabulary)), corpus->vocabulary);
  EXPECT_EQ(models::vocabulary_text({10, 32, 97}), "10 32 97");
  EXPECT_THROW(models::parse_vocabulary("10 x"), std::invalid_argument);
  EXPECT_THROW(models::parse_vocabulary("300"), std::invalid_argument);
}

TEST(TextCorpus, RefusesWhatIsNotUsableText) {
  sbx::test::TempDir dir("text_corpus");
  auto message = [](const std::string& path, long min_tokens = 0) {
    try {
      models::load_text_corpus(path, min_tokens);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message(dir.path("missing.txt")).find("does not exist"), std::string::npos);
  EXPECT_NE(message(write(dir, "empty.txt", "")).find("is empty"), std::string::npos);
  EXPECT_NE(message(write(dir, "nul.txt", std::string(200, 'a') + '\0')).find("binary"), std::string::npos);
  EXPECT_NE(message(write(dir, "control.txt", std::string(100, 'a') + std::string(3, '\x01'))).find("binary"), std::string::npos);
  EXPECT_NE(message(dir.path("")).find("directory"), std::string::npos);
  const std::string ok = write(dir, "ok.txt", std::string(300, 'x') + "y\n");
  EXPECT_EQ(message(ok, 30), "accepted");
  EXPECT_NE(message(ok, 31).find("characters"), std::string::npos);  // a tenth held out: 31 needs 310
}

// Stream 0 draws windows of the training part, any other stream of the held-out part; each label is the
// character after its token.
TEST(TextTask, LabelsAreTheNextCharacters) {
  sbx::test::TempDir dir("text_task");
  std::string text;
  for (int i = 0; i < 90; ++i) text += static_cast<char>('a' + i % 10);  // training part: a..j repeating
  text += "KLMNOPQRST";                                                   // held-out part: other letters
  models::TaskConfig c;
  c.text = write(dir, "t.txt", text);
  c.seq_len = 4;
  c.batch = 5;
  const models::TaskEntry& entry = models::task_entry("text");
  EXPECT_EQ(entry.check(c), "");
  EXPECT_EQ(entry.output_width(c), 20);
  for (const uint64_t stream : {0u, 1u}) {
    c.stream = stream;
    const auto task = entry.make(c);
    models::Batch b;
    task->next_batch(b);
    ASSERT_EQ(b.tokens.size(), 20u);
    ASSERT_EQ(b.labels.size(), 20u);
    for (size_t r = 0; r < b.tokens.size(); ++r) {
      EXPECT_EQ(stream == 0, b.tokens[r] >= 10) << r;  // tokens 0..9 are the capitals, 10..19 a..j
      if (r % 4 != 3) {
        EXPECT_EQ(b.labels[r], b.tokens[r + 1]) << r;
      }
    }
  }
  c.seq_len = 10;  // a held-out part of 10 characters has no window of 11
  EXPECT_NE(entry.check(c), "");
}

}  // namespace
