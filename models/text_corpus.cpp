#include "models/text_corpus.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace models {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw std::invalid_argument("--text: " + path.string() + " does not exist");
  if (fs::is_directory(path, ec)) throw std::invalid_argument("--text: " + path.string() + " is a directory, not a text file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("--text: cannot read " + path.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::invalid_argument("--text: cannot read " + path.string());
  return text;
}

// The package's text files: every regular file of the directory without the .dat (index) or .u8 (link)
// endings, in name order, so that the corpus and its split are the same on every machine with the package.
std::string read_fortunes() {
  std::error_code ec;
  if (!fs::is_directory(kFortunesDir, ec))
    throw std::invalid_argument(std::string("--text fortunes: ") + kFortunesDir +
                                " is missing (install the Debian package `fortunes`, or give --text FILE)");
  std::vector<fs::path> files;
  for (const fs::directory_entry& e : fs::directory_iterator(kFortunesDir, ec)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && ext != ".dat" && ext != ".u8") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::string text;
  for (const fs::path& f : files) text += read_file(f);
  return text;
}

void check_is_text(const std::string& text, const std::string& source) {
  long control = 0;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) throw std::invalid_argument("--text: " + source + " is binary (it contains a NUL byte), not plain text");
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') || c == 0x7f) ++control;
  }
  if (static_cast<double>(control) > 0.01 * static_cast<double>(text.size()))
    throw std::invalid_argument("--text: " + source + " looks binary (" + std::to_string(control) +
                                " control bytes), not plain text");
}

std::shared_ptr<const TextCorpus> build(const std::string& path, long min_tokens) {
  auto corpus = std::make_shared<TextCorpus>();
  const bool fortunes = path == kFortunesCorpus;
  corpus->source = fortunes ? kFortunesDir : path;
  const std::string text = fortunes ? read_fortunes() : read_file(path);
  if (text.empty()) throw std::invalid_argument("--text: " + corpus->source + " is empty");
  check_is_text(text, corpus->source);
  // Each part needs at least one window of min_tokens tokens.
  const long need = 10 * std::max(min_tokens, 2L);
  if (static_cast<long>(text.size()) < need)
    throw std::invalid_argument("--text: " + corpus->source + " has " + std::to_string(text.size()) +
                                " characters; the context needs at least " + std::to_string(need) +
                                " (a tenth is held out)");
  std::array<long, 256> counts{};
  for (const char ch : text) ++counts[static_cast<unsigned char>(ch)];
  std::array<int, 256> token{};
  for (int b = 0; b < 256; ++b)
    if (counts[static_cast<size_t>(b)] > 0) {
      token[static_cast<size_t>(b)] = static_cast<int>(corpus->vocabulary.size());
      corpus->vocabulary.push_back(static_cast<unsigned char>(b));
    }
  const double n = static_cast<double>(text.size());
  for (const long c : counts)
    if (c > 0) corpus->unigram_entropy_bits -= (static_cast<double>(c) / n) * std::log2(static_cast<double>(c) / n);
  const size_t split = text.size() - text.size() / 10;
  for (size_t i = 0; i < text.size(); ++i)
    (i < split ? corpus->train : corpus->held_out).push_back(token[static_cast<unsigned char>(text[i])]);
  corpus->bytes = static_cast<long>(text.size());
  return corpus;
}

}  // namespace

std::shared_ptr<const TextCorpus> load_text_corpus(const std::string& path, long min_tokens) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const TextCorpus>> loaded;
  std::lock_guard lock(mutex);
  auto& slot = loaded[path];
  if (!slot) slot = build(path, 0);
  const long need = 10 * std::max(min_tokens, 2L);
  if (slot->bytes < need)
    throw std::invalid_argument("--text: " + slot->source + " has " + std::to_string(slot->bytes) +
                                " characters; a context of " + std::to_string(min_tokens - 1) + " needs at least " +
                                std::to_string(need) + " (a tenth is held out)");
  return slot;
}

std::string vocabulary_text(const std::vector<unsigned char>& vocabulary) {
  std::string out;
  for (const unsigned char c : vocabulary) {
    if (!out.empty()) out += ' ';
    out += std::to_string(c);
  }
  return out;
}

std::vector<unsigned char> parse_vocabulary(const std::string& text) {
  std::vector<unsigned char> out;
  std::istringstream in(text);
  for (int value = 0; in >> value;) {
    if (value < 0 || value > 255) throw std::invalid_argument("vocabulary: byte value " + std::to_string(value));
    out.push_back(static_cast<unsigned char>(value));
  }
  if (!in.eof() || out.empty()) throw std::invalid_argument("vocabulary: not a list of byte values");
  return out;
}

}  // namespace models
