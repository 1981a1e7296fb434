#include "experiments/src/study/explain.hpp"

#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <limits>

#include "autodiff/ops.hpp"
#include "experiments/src/study/text_format.hpp"
#include "experiments/src/user_error.hpp"

namespace sbx::study {

namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::RowVectorXd;

RowVectorXd row(std::initializer_list<double> values) {
  RowVectorXd v(static_cast<Index>(values.size()));
  Index i = 0;
  for (double x : values) v(i++) = x;
  return v;
}

MatrixXd stack(const RowVectorXd& a, const RowVectorXd& b) {
  MatrixXd m(2, a.size());
  m.row(0) = a;
  m.row(1) = b;
  return m;
}


// "(1.14, 2.43)" with `decimals` digits after the point; −inf is written out.
std::string vec(const RowVectorXd& v, int decimals) {
  std::string s = "(";
  for (Index i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += std::isinf(v(i)) ? (v(i) < 0 ? "-inf" : "inf") : format("%.*f", decimals, v(i));
  }
  return s + ")";
}

double round2(double x) { return std::round(x * 100.0) / 100.0; }

// Cosines of `word` with each row of `others`, by the engine: l2-normalise the rows, then one matmul.
RowVectorXd engine_cosines(const RowVectorXd& word, const MatrixXd& others) {
  ad::Tape tape;
  // eps = 0: the vectors are not zero, and the default eps (1e-12) would shift the cosines by ~1e-13.
  ad::Var w = ad::l2_normalize_rows(tape.constant(word), 0.0);
  ad::Var o = ad::l2_normalize_rows(tape.constant(others), 0.0);
  return ad::matmul(w, ad::transpose(o)).value();
}

// softmax(logits) by the engine, then weights · values (the attention sum).
void engine_attend(const RowVectorXd& logits, const MatrixXd& values, RowVectorXd& weights, RowVectorXd& context) {
  ad::Tape tape;
  ad::Var p = ad::softmax_rows(tape.constant(logits));
  weights = p.value();
  context = ad::matmul(p, tape.constant(values)).value();
}

// ∂p1/∂(softmax input) and ∂p1/∂(raw scores) for p = softmax(scale · scores), by the engine's backward pass
// seeded with e_1 on p.
void engine_p1_gradient(const RowVectorXd& scores, double scale, RowVectorXd& p, RowVectorXd& d_logits,
                        RowVectorXd& d_raw) {
  ad::Tape tape;
  ad::Var raw = tape.constant(scores, /*needs_grad=*/true);
  ad::Var logits = ad::scale(raw, scale);
  ad::Var probs = ad::softmax_rows(logits);
  RowVectorXd seed = RowVectorXd::Zero(scores.size());
  seed(0) = 1.0;
  tape.backward(probs, seed);
  p = probs.value();
  d_logits = logits.grad();
  d_raw = raw.grad();
}

// The seed texts the examples come from (the files are named by their hash).
constexpr const char* kSeedApple =
    "seed 000_6d8c1a80d6e8a124.txt (Chinese blog post \"组会 | Attention 中有意思的部分\", section 2)";
constexpr const char* kSeedSeq2Seq =
    "seed 001_726fb5545b1454bb.txt (Turkish blog post on keys, queries and values in attention)";
constexpr const char* kSeedScaled =
    "seed 002_d361a9f9167aa812.txt (English transcript \"The Transformer And Self Attention V2\")";

}  // namespace

// ---- apple -----------------------------------------------------------------------------------------------

AppleExample explain_apple() {
  AppleExample e;
  e.apple = row({2, 2});
  const RowVectorXd orange = row({0, 3}), phone = row({4, 0});
  const std::array<std::pair<const char*, const char*>, 2> sentences = {
      std::pair{"an apple and an orange", "orange"}, std::pair{"an apple phone", "phone"}};
  const std::array<RowVectorXd, 2> others = {orange, phone};
  for (size_t c = 0; c < 2; ++c) {
    AppleContext& ctx = e.contexts[c];
    ctx.sentence = sentences[c].first;
    ctx.other_word = sentences[c].second;
    ctx.other = others[c];
    const MatrixXd values = stack(ctx.other, e.apple);  // the text's order: other word first, then apple
    const RowVectorXd cosines = engine_cosines(e.apple, values);
    ctx.cosine = cosines(0);
    ctx.self_cosine = cosines(1);
    ctx.cosine_rounded = round2(ctx.cosine);
    ctx.self_cosine_rounded = round2(ctx.self_cosine);

    ad::Tape tape;
    ad::Var p = ad::softmax_rows(tape.constant(row({ctx.cosine_rounded, ctx.self_cosine_rounded})));
    ctx.weights = p.value();
    ctx.weighted_other = ad::scale(tape.constant(ctx.other), ctx.weights(0)).value();
    ctx.weighted_apple = ad::scale(tape.constant(e.apple), ctx.weights(1)).value();
    ctx.adjusted = ad::matmul(p, tape.constant(values)).value();

    engine_attend(cosines, values, ctx.weights_unrounded, ctx.adjusted_unrounded);
  }
  return e;
}

std::string format_apple(const AppleExample& e) {
  std::string s;
  s += "== apple: the same word gets a different vector in a different context ==\n";
  s += std::string("Source: ") + kSeedApple + ".\n";
  s += "Made-up 2-D word vectors from the text: orange = (0, 3), phone = (4, 0), apple = (2, 2). As the text says,\n"
       "this is a simplified self-attention: \"apple\" attends only to the other word and to itself, with cosine\n"
       "similarity as the score and no 1/√d_k.\n";
  for (const AppleContext& c : e.contexts) {
    const double dot = e.apple.dot(c.other), na = e.apple.norm(), no = c.other.norm();
    const std::string w = c.other_word;
    s += "\n\"" + c.sentence + "\":\n";
    s += format("  1. cos(apple, %s) = apple·%s / (|apple| |%s|) = %.0f / (%.4f × %.4f) = %.4f; the text rounds it to %.2f\n",
                w.c_str(), w.c_str(), w.c_str(), dot, na, no, c.cosine, c.cosine_rounded);
    s += format("     cos(apple, apple) = %.4f\n", c.self_cosine);
    s += format("  2. softmax of the rounded scores (%.2f, %.2f):\n", c.cosine_rounded, c.self_cosine_rounded);
    s += format("     weight of %-6s = e^%.2f / (e^%.2f + e^%.0f) = %.4f\n", w.c_str(), c.cosine_rounded, c.cosine_rounded,
                c.self_cosine_rounded, c.weights(0));
    s += format("     weight of apple  = e^%.0f / (e^%.2f + e^%.0f) = %.4f   (the two sum to %.4f)\n", c.self_cosine_rounded,
                c.cosine_rounded, c.self_cosine_rounded, c.weights(1), c.weights.sum());
    s += format("  3. weighted vectors: %.4f × %-6s %s = %s\n", c.weights(0), w.c_str(), vec(c.other, 0).c_str(),
                vec(c.weighted_other, 4).c_str());
    s += format("                       %.4f × apple  %s = %s\n", c.weights(1), vec(e.apple, 0).c_str(),
                vec(c.weighted_apple, 4).c_str());
    s += format("  4. sum: context-adjusted apple = %s = %s to 2 decimals (the text: %s)\n", vec(c.adjusted, 4).c_str(),
                vec(c.adjusted, 2).c_str(), c.other_word == "orange" ? "(1.14, 2.43)" : "(2.86, 1.14)");
    s += format("     (with the unrounded cosine %.4f the weights are %.4f / %.4f and the sum is %s: the rounding\n"
                "      moves the second decimal)\n",
                c.cosine, c.weights_unrounded(0), c.weights_unrounded(1), vec(c.adjusted_unrounded, 2).c_str());
  }
  s += "\nNext to \"orange\" apple moves toward orange (the fruit); next to \"phone\" it moves toward phone (the brand).\n"
       "(The text prints the first result once as \"(1.14, 2,43)\": a typo for (1.14, 2.43).)\n";
  return s;
}

// ---- seq2seq ---------------------------------------------------------------------------------------------

Seq2SeqExample explain_seq2seq() {
  Seq2SeqExample e;
  e.encoder_states.resize(3, 4);
  e.encoder_states << 0.5, -1.0, 0.8, 0.2,  //
      -0.3, 0.9, 0.1, -0.6,                 //
      1.2, 0.4, -0.7, 0.5;
  e.decoder_state = row({0.6, 0.3, -0.2, 0.9});

  ad::Tape tape;
  ad::Var states = tape.constant(e.encoder_states);  // keys and values are the same encoder states
  ad::Var query = tape.constant(e.decoder_state);
  ad::Var scores = ad::matmul(query, ad::transpose(states));
  ad::Var weights = ad::softmax_rows(scores);
  e.scores = scores.value();
  e.weights = weights.value();
  e.context = ad::matmul(weights, states).value();

  // The text's special case: weight 1 on the last input, 0 on the others. By the engine: mask the others.
  ad::BoolMatrix hidden(1, 3);
  hidden << true, true, false;
  ad::Var masked = ad::mask(scores, hidden);
  ad::Var masked_weights = ad::softmax_rows(masked);
  e.masked_scores = masked.value();
  e.masked_weights = masked_weights.value();
  e.masked_context = ad::matmul(masked_weights, states).value();

  // And as the text puts it: set the weights by hand.
  e.manual_weights = row({0, 0, 1});
  e.manual_context = ad::matmul(tape.constant(e.manual_weights), states).value();
  return e;
}

std::string format_seq2seq(const Seq2SeqExample& e) {
  const RowVectorXd last = e.encoder_states.row(e.encoder_states.rows() - 1);
  std::string s;
  s += "== seq2seq: the attention context vector, and plain seq2seq as a special case ==\n";
  s += std::string("Source: ") + kSeedSeq2Seq + ".\n";
  s += "In the text the query is the decoder's hidden state, the keys and the values are the encoder's hidden states,\n"
       "a score is query·key, softmax turns the scores into weights that sum to 1, and the context vector is\n"
       "Σ_i weight_i × value_i. The text gives no numbers: the states below are made up (4-D).\n";
  for (Index i = 0; i < e.encoder_states.rows(); ++i)
    s += format("  encoder state h%d = %s\n", static_cast<int>(i + 1), vec(e.encoder_states.row(i), 2).c_str());
  s += format("  decoder state s  = %s (the query)\n", vec(e.decoder_state, 2).c_str());
  s += format("1. scores s·h_i        = %s\n", vec(e.scores, 4).c_str());
  s += format("2. weights softmax     = %s (sum %.4f)\n", vec(e.weights, 4).c_str(), e.weights.sum());
  s += format("3. context Σ w_i h_i   = %s: a blend of all three states\n", vec(e.context, 4).c_str());
  s += "The text: set the last input's weight to 1 and all earlier ones to 0, and attention reduces to the\n"
       "original seq2seq context vector (the last encoder state).\n";
  s += format("4. masked scores       = %s (ad::mask hides h1 and h2)\n", vec(e.masked_scores, 4).c_str());
  s += format("   weights             = %s\n", vec(e.masked_weights, 4).c_str());
  s += format("   context             = %s\n", vec(e.masked_context, 4).c_str());
  s += format("   last state h3       = %s   equal bit for bit: %s\n", vec(last, 4).c_str(),
              e.masked_context == last ? "yes" : "NO");
  s += format("5. weights set by hand = %s -> context %s, equal to h3 bit for bit: %s\n", vec(e.manual_weights, 0).c_str(),
              vec(e.manual_context, 4).c_str(), e.manual_context == last ? "yes" : "NO");
  s += "Plain seq2seq hands the decoder only h3; attention lets every step look at all the encoder states.\n";
  s += "Trained, this is what `--model cross --task lookup` learns, e.g.\n"
       "  sandbox train --model cross --task lookup --context-len 8 --seq-len 4 --d-model 32 --dk 4 --out lookup.h5\n"
       "The encoder sequence holds key/value states, every decoder position asks for one key, and its answer is\n"
       "Σ_i weight_i × value_i as above: the text's learnable transformations (Query = I × W(Q), Key = I × W(K),\n"
       "Value = I × W(V)) are the model's W^Q on the decoder states and W^K, W^V on the encoder states. With\n"
       "uniform weights every position gets the same blend and the task stays at chance (1/8); trained, each\n"
       "decoder position puts its weight on the encoder state holding its key (README, Encoder–decoder attention).\n";
  return s;
}

// ---- scaled ----------------------------------------------------------------------------------------------

ScaledExample explain_scaled() {
  ScaledExample e;
  e.d_k = 4;
  e.query = row({1, 2, 3, 4});
  e.keys.resize(2, 4);
  e.keys << 2, 3, 4, 5,  // q·k1 = 2 + 6 + 12 + 20 = 40
      3, 1, 3, 3;        // q·k2 = 3 + 2 + 9 + 12 = 26
  e.values.resize(2, 4);
  e.values << 1, 2, 0, 1,  //
      3, 0, 2, 1;

  ad::Tape tape;
  ad::Var q = tape.constant(e.query);
  ad::Var k = tape.constant(e.keys);
  ad::Var v = tape.constant(e.values);
  ad::Var scores = ad::matmul(q, ad::transpose(k));
  ad::Var scaled = ad::scale(scores, 1.0 / std::sqrt(static_cast<double>(e.d_k)));
  ad::Var weights = ad::softmax_rows(scaled);
  e.scores = scores.value();
  e.scaled_scores = scaled.value();
  e.weights = weights.value();
  e.context = ad::matmul(weights, v).value();
  e.weighted_values.resize(2, 4);
  for (Index i = 0; i < 2; ++i) e.weighted_values.row(i) = ad::scale(tape.constant(e.values.row(i)), e.weights(i)).value();
  e.unscaled_weights = ad::softmax_rows(scores).value();
  return e;
}

std::string format_scaled(const ScaledExample& e) {
  std::string s;
  s += "== scaled: scaled dot-product attention step by step, d_k = 4 ==\n";
  s += std::string("Source: ") + kSeedScaled + ":\n"
       "the query is scored against the keys (\"40, and then, 26\"), the scores are divided by 2 (\"the dimension of\n"
       "the keys, which we're using a toy dimension of four, so that would be two\"), softmaxed, multiplied with the\n"
       "values and added up. The text gives only the scores: the vectors below are our choice, picked so that the\n"
       "dot products are exactly 40 and 26.\n";
  s += format("  query q = %s;  keys k1 = %s, k2 = %s;  values v1 = %s, v2 = %s\n", vec(e.query, 0).c_str(),
              vec(e.keys.row(0), 0).c_str(), vec(e.keys.row(1), 0).c_str(), vec(e.values.row(0), 0).c_str(),
              vec(e.values.row(1), 0).c_str());
  s += format("1. scores: q·k1 = %g, q·k2 = %g\n", e.scores(0), e.scores(1));
  s += format("2. divide by √d_k = √%d = %g: %g and %g\n", e.d_k, std::sqrt(static_cast<double>(e.d_k)),
              e.scaled_scores(0), e.scaled_scores(1));
  s += format("3. softmax: e^%g / (e^%g + e^%g) = %.6f and %.6f (sum %.6f)\n", e.scaled_scores(0), e.scaled_scores(0),
              e.scaled_scores(1), e.weights(0), e.weights(1), e.weights.sum());
  s += format("4. weights × values: %.6f × v1 = %s\n", e.weights(0), vec(e.weighted_values.row(0), 6).c_str());
  s += format("                     %.6f × v2 = %s\n", e.weights(1), vec(e.weighted_values.row(1), 6).c_str());
  s += format("5. sum: the attention output (context vector) = %s\n", vec(e.context, 6).c_str());
  s += format("Even after scaling, a gap of %g between the scores gives the first key %.2f%% of the weight. Unscaled,\n"
              "the gap would be %g and the weights %.9f and %.2e: almost exactly one-hot.\n",
              e.scaled_scores(0) - e.scaled_scores(1), 100.0 * e.weights(0), e.scores(0) - e.scores(1),
              e.unscaled_weights(0), e.unscaled_weights(1));
  return s;
}

// ---- two-words -------------------------------------------------------------------------------------------

TwoWordsExample explain_two_words() {
  TwoWordsExample e;
  e.d_k = 64;
  e.scores = row({112, 96});
  const double scale = 1.0 / std::sqrt(static_cast<double>(e.d_k));
  RowVectorXd unused;
  engine_p1_gradient(e.scores, scale, e.weights, e.jacobian_row_scaled, e.jacobian_row_raw_scaled);
  engine_p1_gradient(e.scores, 1.0, e.unscaled_weights, e.jacobian_row_unscaled, unused);
  {
    ad::Tape tape;
    e.scaled_scores = ad::scale(tape.constant(e.scores), scale).value();
  }
  const auto formula = [](const RowVectorXd& p) { return row({p(0) * (1.0 - p(0)), -p(0) * p(1)}); };
  e.formula_row_scaled = formula(e.weights);
  e.formula_row_unscaled = formula(e.unscaled_weights);
  return e;
}

std::string format_two_words(const TwoWordsExample& e) {
  std::string s;
  s += "== two-words: what 1/√d_k does to the weights and to the gradient, d_k = 64 ==\n";
  s += "Source: the classic example of Jay Alammar's \"The Illustrated Transformer\" (not one of the seed texts):\n"
       "the query of \"Thinking\" scores 112 against its own key and 96 against the key of \"Machines\"; d_k = 64.\n"
       "The Chinese seed (000, section 3, point 4) gives the reason for the scaling: when softmax puts almost all\n"
       "the weight on one element, the gradient in backpropagation is ~0 and the parameters stop updating.\n"
       "Here it is in numbers (derivatives with respect to the softmax input s):\n\n";
  s += "                               scaled (s = score / 8)      unscaled (s = score)\n";
  s += format("  softmax input s1, s2         %-27s %s\n", (format("%g, %g", e.scaled_scores(0), e.scaled_scores(1))).c_str(),
              format("%g, %g", e.scores(0), e.scores(1)).c_str());
  s += format("  weight p1                    %-27.6f %.11f = 1 - %.4e\n", e.weights(0), e.unscaled_weights(0),
              e.unscaled_weights(1));
  s += format("  weight p2                    %-27.6f %.4e\n", e.weights(1), e.unscaled_weights(1));
  s += format("  dp1/ds1 formula p1(1 - p1)   %-27.6e %.6e\n", e.formula_row_scaled(0), e.formula_row_unscaled(0));
  s += format("  dp1/ds1 engine backward      %-27.6e %.6e\n", e.jacobian_row_scaled(0), e.jacobian_row_unscaled(0));
  s += format("  dp1/ds2 formula -p1 p2       %-27.6e %.6e\n", e.formula_row_scaled(1), e.formula_row_unscaled(1));
  s += format("  dp1/ds2 engine backward      %-27.6e %.6e\n", e.jacobian_row_scaled(1), e.jacobian_row_unscaled(1));
  s += format("\nThe engine's backward pass (seed e_1 on p) agrees with the formula. Without the scaling p is one-hot\n"
              "up to %.1e, and dp1/ds1 is %.1e times smaller: almost no gradient reaches the scores, and through them\n"
              "W_Q and W_K. (With the scaling, the derivative with respect to the raw score 112 is %.4f, the %.4f\n"
              "above divided by 8: still %.1e times the unscaled one.)\n",
              e.unscaled_weights(1), e.jacobian_row_scaled(0) / e.jacobian_row_unscaled(0), e.jacobian_row_raw_scaled(0),
              e.jacobian_row_scaled(0), e.jacobian_row_raw_scaled(0) / e.jacobian_row_unscaled(0));
  return s;
}

// ---- dispatch --------------------------------------------------------------------------------------------

const std::vector<std::string>& explain_example_names() {
  static const std::vector<std::string> names = {"apple", "seq2seq", "scaled", "two-words"};
  return names;
}

std::string explain_example(const std::string& name) {
  if (name == "apple") return format_apple(explain_apple());
  if (name == "seq2seq") return format_seq2seq(explain_seq2seq());
  if (name == "scaled") return format_scaled(explain_scaled());
  if (name == "two-words") return format_two_words(explain_two_words());
  std::string list;
  for (const auto& n : explain_example_names()) {
    if (!list.empty()) list += ", ";
    list += n;
  }
  throw UserError("sandbox explain: unknown example '" + name + "' (the examples are: " + list + ")");
}

}  // namespace sbx::study
