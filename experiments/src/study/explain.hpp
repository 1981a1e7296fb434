#pragma once
// `sandbox explain`: the worked examples of the seed texts, recomputed by the engine (ad:: ops on a Tape)
// and printed step by step. Each explain_*() returns the numbers it computed; format_*() prints exactly
// those numbers, so what the tests check is what the students read.
#include <Eigen/Core>

#include <array>
#include <string>
#include <vector>

namespace sbx::study {

// ---- apple: a word's vector adjusted by its context (seed 000, Chinese, section 2) ------------------------
struct AppleContext {
  std::string sentence;          // "an apple and an orange"
  std::string other_word;        // "orange"
  Eigen::RowVectorXd other;      // its vector, (0, 3)
  double cosine = 0;             // cos(apple, other) from the engine: 0.7071...
  double self_cosine = 0;        // cos(apple, apple): 1
  double cosine_rounded = 0;     // 0.71: the text rounds before the softmax
  double self_cosine_rounded = 0;
  Eigen::RowVectorXd weights;        // softmax(0.71, 1): (weight of the other word, weight of apple)
  Eigen::RowVectorXd weighted_other;  // weights(0) × other
  Eigen::RowVectorXd weighted_apple;  // weights(1) × apple
  Eigen::RowVectorXd adjusted;        // weights · [other; apple]: the context-adjusted apple
  Eigen::RowVectorXd weights_unrounded, adjusted_unrounded;  // the same from the unrounded cosines
};
struct AppleExample {
  Eigen::RowVectorXd apple;              // (2, 2)
  std::array<AppleContext, 2> contexts;  // next to "orange", next to "phone"
};
AppleExample explain_apple();

// ---- seq2seq: the context vector, and plain seq2seq as the special case (seed 001, Turkish) --------------
struct Seq2SeqExample {
  Eigen::MatrixXd encoder_states;     // made-up hidden states h1..h3, one per row (keys = values)
  Eigen::RowVectorXd decoder_state;   // made-up query s
  Eigen::RowVectorXd scores;          // s·h_i
  Eigen::RowVectorXd weights;         // softmax(scores)
  Eigen::RowVectorXd context;         // Σ w_i h_i
  Eigen::RowVectorXd masked_scores;   // every score but the last set to −inf (ad::mask)
  Eigen::RowVectorXd masked_weights;  // (0, 0, 1)
  Eigen::RowVectorXd masked_context;  // = h3 exactly
  Eigen::RowVectorXd manual_weights;  // (0, 0, 1) set by hand, as the text does
  Eigen::RowVectorXd manual_context;  // = h3 exactly
};
Seq2SeqExample explain_seq2seq();

// ---- scaled: scaled dot-product attention step by step, d_k = 4 (seed 002, English) ----------------------
struct ScaledExample {
  int d_k = 4;
  Eigen::RowVectorXd query;  // our choice: the text gives only the scores
  Eigen::MatrixXd keys;      // 2 × 4, chosen so that q·k1 = 40, q·k2 = 26
  Eigen::MatrixXd values;    // 2 × 4, our choice
  Eigen::RowVectorXd scores;            // (40, 26)
  Eigen::RowVectorXd scaled_scores;     // (20, 13)
  Eigen::RowVectorXd weights;           // softmax(20, 13)
  Eigen::MatrixXd weighted_values;      // row i: weights(i) × v_i
  Eigen::RowVectorXd context;           // Σ weights(i) v_i
  Eigen::RowVectorXd unscaled_weights;  // softmax(40, 26), for comparison
};
ScaledExample explain_scaled();

// ---- two-words: weights and the softmax gradient with and without 1/√d_k (The Illustrated Transformer) --
struct TwoWordsExample {
  int d_k = 64;
  Eigen::RowVectorXd scores;            // (112, 96)
  Eigen::RowVectorXd scaled_scores;     // (14, 12)
  Eigen::RowVectorXd weights;           // softmax(14, 12) ≈ (0.88, 0.12)
  Eigen::RowVectorXd unscaled_weights;  // softmax(112, 96) ≈ (1 − 1.1e−7, 1.1e−7)
  // ∂p1/∂(softmax input), read from the engine's backward pass seeded with e_1 on p: (∂p1/∂s1, ∂p1/∂s2).
  Eigen::RowVectorXd jacobian_row_scaled;
  Eigen::RowVectorXd jacobian_row_unscaled;
  Eigen::RowVectorXd jacobian_row_raw_scaled;  // ∂p1/∂(raw scores 112, 96) through the ÷8: the above / 8
  // The textbook formulas ∂p1/∂s1 = p1(1 − p1), ∂p1/∂s2 = −p1 p2, from the engine's p.
  Eigen::RowVectorXd formula_row_scaled;
  Eigen::RowVectorXd formula_row_unscaled;
};
TwoWordsExample explain_two_words();

// ---- printing --------------------------------------------------------------------------------------------
std::string format_apple(const AppleExample& e);
std::string format_seq2seq(const Seq2SeqExample& e);
std::string format_scaled(const ScaledExample& e);
std::string format_two_words(const TwoWordsExample& e);

// The example names, in the order `sandbox explain` prints them: apple, seq2seq, scaled, two-words.
const std::vector<std::string>& explain_example_names();
// Computes and formats one example; UserError naming the valid names for an unknown one.
std::string explain_example(const std::string& name);

}  // namespace sbx::study
