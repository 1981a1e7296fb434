// `sandbox grad`: the loss and gradients of the self-attention model for parameters and data given in a
// file, so that anyone can compare the engine against another framework.
//   in:  /params/W_Q (d_model×h·d_k), /params/W_K (d_model×h·d_k), /params/W_V (d_model×h·d_v), optional
//        /params/W_O (h·d_v×d_out); /inputs/X (batch, n, d_model); optional /inputs/X_context (batch, m,
//        d_model): cross-attention, keys and values from it; /targets/Y (batch, n, d_out or h·d_v);
//        root attributes scale ("none", "sqrt" or "linear"), causal (0 or 1), optional heads (h, default 1;
//        head i owns columns i·d_k .. i·d_k+d_k−1 of W_Q and W_K and i·d_v .. of W_V).
//   out: /loss (scalar, the mean over all elements of (Ŷ − Y)²) and /grads/<param>, shaped like each param.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "experiments/src/cli/commands.hpp"
#include "experiments/src/cli/options.hpp"
#include "experiments/src/io/h5_store.hpp"
#include "experiments/src/user_error.hpp"
#include "models/attention.hpp"
#include "models/name_list.hpp"

namespace sbx::cli {
namespace {

std::string shape_text(Eigen::Index rows, Eigen::Index cols) {
  char text[64];  // snprintf rather than string concatenation: GCC 12 warns falsely (-Wrestrict) on the latter
  std::snprintf(text, sizeof text, "(%ld, %ld)", static_cast<long>(rows), static_cast<long>(cols));
  return text;
}

void require_shape(const std::string& file, const std::string& name, const Eigen::MatrixXd& m, Eigen::Index rows,
                   Eigen::Index cols) {
  if (m.rows() != rows || m.cols() != cols)
    throw UserError(file + ": " + name + " has shape " + shape_text(m.rows(), m.cols()) + " but must be " +
                    shape_text(rows, cols));
}

void require_finite(const std::string& file, const std::string& path, const Eigen::MatrixXd& m) {
  if (!m.allFinite()) throw UserError(file + ": " + path + " contains NaN or infinite values");
}

Eigen::MatrixXd read_required(const io::H5Reader& in, const std::string& path) {
  if (!in.exists(path)) throw UserError(in.path() + ": dataset " + path + " is missing");
  Eigen::MatrixXd m = in.read_matrix(path);
  require_finite(in.path(), path, m);
  return m;
}

int grad_in_this_process(const std::string& in_path, const std::string& out_path);

}  // namespace

int run_grad(const Args& args) {
  std::string in_path, out_path;
  po::options_description options("grad options");
  options.add_options()("in", po::value(&in_path), "HDF5 file with /params, /inputs/X, /targets/Y")(
      "out", po::value(&out_path), "HDF5 file to write /loss and /grads/<param> to");
  po::variables_map vm;
  if (!parse_options("grad", args, options, vm)) return 0;
  if (in_path.empty()) throw UserError("sandbox grad: --in FILE.h5 is required");
  if (out_path.empty()) throw UserError("sandbox grad: --out FILE.h5 is required");
  namespace fs = std::filesystem;
  const fs::path out_parent = fs::path(out_path).parent_path().empty() ? fs::path(".") : fs::path(out_path).parent_path();
  std::error_code ec;  // the error_code overloads: an over-long name must become a UserError, not an exception
  if (fs::is_directory(out_path, ec)) throw UserError(out_path + ": is a directory, not a file");
  if (!fs::is_directory(out_parent, ec)) throw UserError(out_path + ": directory " + out_parent.string() + " does not exist");

  io::silence_hdf5_errors();
  io::check_writable_target(out_path);  // an unwritable directory or over-long name: refused before reading

  // Reading a damaged file can crash inside the HDF5 library (the fuzz test met a segfault on a file with
  // flipped bytes that no check before it caught): the reading and everything after it run in a child
  // process, so that such a crash is one line and exit 2, not a signal.
  return run_in_child("grad", in_path, [&] { return grad_in_this_process(in_path, out_path); },
                      [&] { io::remove_stale_temps(out_path); });  // a temp the child was writing
}

namespace {

// Everything the file gives, checked: the parameters, the sequences and the model's settings.
struct GradInputs {
  Eigen::MatrixXd w_q, w_k, w_v, w_o, x, y, x_context;
  bool has_wo = false, cross = false;
  hsize_t batch = 0, n = 0, y_batch = 0, y_n = 0;
  std::int64_t heads = 1;
  models::AttentionConfig config;
};

// /inputs/X and /targets/Y: 3-D, finite, not empty, with attention scores that fit in memory.
void read_sequences(const io::H5Reader& in, GradInputs& g) {
  const std::string& file = in.path();
  if (!in.exists("/inputs/X")) throw UserError(file + ": dataset /inputs/X is missing");
  if (!in.exists("/targets/Y")) throw UserError(file + ": dataset /targets/Y is missing");
  if (in.shape("/inputs/X").size() != 3) throw UserError(file + ": /inputs/X must be 3-D (batch, n, d_model)");
  if (in.shape("/targets/Y").size() != 3) throw UserError(file + ": /targets/Y must be 3-D (batch, n, d_out)");
  g.x = in.read_3d_as_rows("/inputs/X", g.batch, g.n);
  g.y = in.read_3d_as_rows("/targets/Y", g.y_batch, g.y_n);
  require_finite(file, "/inputs/X", g.x);
  require_finite(file, "/targets/Y", g.y);
  if (g.batch == 0 || g.n == 0 || g.x.cols() == 0) throw UserError(file + ": /inputs/X is empty");
  // The scores are batch·n×n: a small file can declare a sequence whose attention would not fit in memory.
  const double score_bytes = 8.0 * 6.0 * static_cast<double>(g.batch) * static_cast<double>(g.n) * static_cast<double>(g.n);
  if (score_bytes > 8.0 * (1ull << 30))
    throw UserError(file + ": /inputs/X has n = " + std::to_string(g.n) + " positions per sequence; its attention scores would need about " +
                    std::to_string(static_cast<long long>(score_bytes / (1ull << 30))) + " GiB (more than 8 GiB)");
}

// Multi-head and cross-attention inputs (see the header comment): the heads attribute and /inputs/X_context.
void read_heads_and_context(const io::H5Reader& in, GradInputs& g) {
  const std::string& file = in.path();
  g.heads = in.has_attr("/", "heads") ? in.read_int_attr("/", "heads") : 1;
  if (g.heads < 1 || g.heads > 4096) throw UserError(file + ": root attribute heads must be a whole number from 1 to 4096");
  if (g.w_q.cols() % g.heads != 0 || g.w_v.cols() % g.heads != 0)
    throw UserError(file + ": the columns of /params/W_Q (" + std::to_string(g.w_q.cols()) + ") and /params/W_V (" +
                    std::to_string(g.w_v.cols()) + ") must divide into " + std::to_string(g.heads) + " heads");
  g.cross = in.exists("/inputs/X_context");
  if (!g.cross) return;
  hsize_t c_batch = g.batch, m = g.n;
  if (in.shape("/inputs/X_context").size() != 3) throw UserError(file + ": /inputs/X_context must be 3-D (batch, m, d_model)");
  g.x_context = in.read_3d_as_rows("/inputs/X_context", c_batch, m);
  require_finite(file, "/inputs/X_context", g.x_context);
  if (c_batch != g.batch || m == 0 || g.x_context.cols() != g.x.cols())
    throw UserError(file + ": /inputs/X_context must be (" + std::to_string(g.batch) + ", m > 0, " + std::to_string(g.x.cols()) +
                    "), like /inputs/X but for its length m");
  if (8.0 * 6.0 * static_cast<double>(g.heads) * static_cast<double>(g.batch) * static_cast<double>(g.n) * static_cast<double>(m) > 8.0 * (1ull << 30))
    throw UserError(file + ": /inputs/X_context has m = " + std::to_string(m) + " positions; the attention scores would need more than 8 GiB");
}

// The parameters' shapes against X and each other, /params/W_O when given, and the shape of /targets/Y.
void check_shapes(const io::H5Reader& in, GradInputs& g) {
  const std::string& file = in.path();
  const Eigen::Index d_model = g.x.cols(), d_k = g.w_q.cols() / g.heads, d_v = g.w_v.cols() / g.heads;
  require_shape(file, "/params/W_Q", g.w_q, d_model, g.heads * d_k);
  require_shape(file, "/params/W_K", g.w_k, d_model, g.heads * d_k);
  require_shape(file, "/params/W_V", g.w_v, d_model, g.heads * d_v);
  if (g.has_wo) {
    g.w_o = read_required(in, "/params/W_O");
    if (g.w_o.rows() != g.heads * d_v) throw UserError(file + ": /params/W_O has " + std::to_string(g.w_o.rows()) + " rows but W_V has " + std::to_string(g.heads * d_v) + " columns");
  }
  const Eigen::Index d_out = g.has_wo ? g.w_o.cols() : g.heads * d_v;
  // Zero-width parameters leave nothing to differentiate (and the engine's products assume non-empty
  // operands): one clear line instead.
  if (d_k == 0) throw UserError(file + ": /params/W_Q and W_K have 0 columns (d_k = 0)");
  if (d_v == 0) throw UserError(file + ": /params/W_V has 0 columns (d_v = 0)");
  if (d_out == 0) throw UserError(file + ": /params/W_O has 0 columns (d_out = 0)");
  if (g.y_batch != g.batch || g.y_n != g.n || g.y.cols() != d_out)
    throw UserError(file + ": /targets/Y has shape (" + std::to_string(g.y_batch) + ", " + std::to_string(g.y_n) + ", " +
                    std::to_string(g.y.cols()) + ") but must be (" + std::to_string(g.batch) + ", " + std::to_string(g.n) + ", " +
                    std::to_string(d_out) + ")");
  g.config.d_model = d_model;
  g.config.d_k = d_k;
  g.config.d_v = d_v;
  g.config.heads = g.heads;
  g.config.d_out = g.has_wo ? d_out : 0;
}

// The root attributes scale (a fixed one: the file holds no learned scale) and causal.
void read_settings(const io::H5Reader& in, models::AttentionConfig& config) {
  const std::string& file = in.path();
  const std::string scale = in.has_attr("/", "scale") ? in.read_string_attr("/", "scale") : "";
  std::vector<std::string> fixed;
  for (const models::ScaleMode mode : models::scale_modes())
    if (!models::has_learned_scale(mode)) fixed.push_back(models::scale_name(mode));
  if (std::find(fixed.begin(), fixed.end(), scale) == fixed.end())
    throw UserError(file + ": root attribute scale must be " + models::join_choices(fixed) +
                    (scale.empty() ? " (it is missing)" : ", got '" + scale + "'"));
  config.scale = models::parse_scale(scale);
  const std::int64_t causal = in.has_attr("/", "causal") ? in.read_int_attr("/", "causal") : 0;
  if (causal != 0 && causal != 1) throw UserError(file + ": root attribute causal must be 0 or 1");
  config.causal = causal == 1;
}

GradInputs read_inputs(const std::string& in_path) {
  io::H5Reader in(in_path);
  GradInputs g;
  g.w_q = read_required(in, "/params/W_Q");
  g.w_k = read_required(in, "/params/W_K");
  g.w_v = read_required(in, "/params/W_V");
  g.has_wo = in.exists("/params/W_O");
  read_sequences(in, g);
  read_heads_and_context(in, g);
  check_shapes(in, g);
  read_settings(in, g.config);
  return g;
}

// The model with the file's parameters, after backward on the mean squared error: the loss.
double compute_gradients(const GradInputs& g, models::Attention& model) {
  model.find("W_Q")->value = g.w_q;
  model.find("W_K")->value = g.w_k;
  model.find("W_V")->value = g.w_v;
  if (g.has_wo) model.find("W_O")->value = g.w_o;
  ad::Tape tape;
  const ad::Var x_node = tape.constant(g.x);
  const auto batch = static_cast<Eigen::Index>(g.batch);
  const models::AttentionNodes nodes = g.cross ? model.forward(tape, x_node, tape.constant(g.x_context), batch)
                                               : model.forward(tape, x_node, batch);
  const ad::Var loss = ad::mean_squared_error(nodes.output, tape.constant(g.y));
  for (ad::Parameter* p : model.parameters()) p->zero_grad();
  tape.backward(loss);
  return loss.value()(0, 0);
}

void write_gradients(const std::string& out_path, double loss, models::Attention& model) {
  io::H5Transaction edit(out_path);
  try {
    io::delete_path(edit.file(), "loss");
    io::write_scalar_dataset(edit.file(), "loss", loss);
    for (ad::Parameter* p : model.parameters()) io::write_matrix(edit.file(), "grads/" + p->name, p->grad);
  } catch (const H5::Exception& e) {
    throw UserError(out_path + ": cannot write: " + e.getDetailMsg());
  }
  edit.commit();
}

int grad_in_this_process(const std::string& in_path, const std::string& out_path) {
  const GradInputs inputs = read_inputs(in_path);
  ad::Rng rng(0);
  models::Attention model(inputs.config, rng);
  const double loss = compute_gradients(inputs, model);
  // Finite inputs can still overflow (weights of 1e300): say so and write nothing rather than NaN gradients.
  bool finite = std::isfinite(loss);
  for (ad::Parameter* p : model.parameters()) finite = finite && p->grad.allFinite();
  if (!finite) {
    std::fprintf(stderr, "sandbox grad: %s: the loss or a gradient is not finite for these inputs (values too large?); nothing written\n",
                 in_path.c_str());
    return 3;
  }
  write_gradients(out_path, loss, model);
  std::printf("loss %.17g; gradients of %zu parameters written to %s\n", loss, model.parameters().size(), out_path.c_str());
  return 0;
}

}  // namespace

}  // namespace sbx::cli
