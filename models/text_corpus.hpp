#pragma once
// Character-level text for the language model: a corpus read from a plain-text file (or the Debian
// `fortunes` package's files), its vocabulary of distinct bytes, a fixed train/held-out split and the
// unigram entropy the model's bits per character are compared with. Knows nothing of models or training.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace models {

// The word --text takes for the installed fortunes (every plain-text file of kFortunesDir, by name).
inline constexpr const char* kFortunesCorpus = "fortunes";
inline constexpr const char* kFortunesDir = "/usr/share/games/fortunes";

struct TextCorpus {
  std::string source;              // the path, or kFortunesDir
  std::vector<unsigned char> vocabulary;  // token t is the byte vocabulary[t], in byte order
  std::vector<int> train, held_out;       // the text as tokens: the first 90%, then the last 10%
  double unigram_entropy_bits = 0;  // −Σ p log₂ p of the byte frequencies of the whole text
  long bytes = 0;
};

// Reads `path` (or, for "fortunes", the installed package's files). Throws std::invalid_argument with one
// line naming the problem: a missing or unreadable file, an empty or too short text, binary content (a NUL
// byte, or more than 1% control bytes other than tab, newline, carriage return and form feed). Loaded once
// per path and process; later calls share the result.
std::shared_ptr<const TextCorpus> load_text_corpus(const std::string& path, long min_tokens = 0);

// The vocabulary as text for a run attribute: the byte values in token order, separated by spaces
// ("10 32 33 …"), and back (throws std::invalid_argument for anything else).
std::string vocabulary_text(const std::vector<unsigned char>& vocabulary);
std::vector<unsigned char> parse_vocabulary(const std::string& text);

}  // namespace models
