// Causal attention with dropout on the probabilities, fused in one CPU kernel (float32).
//
// One thread owns one (batch, head) at a time. Its q, k, v are copied into padded, aligned
// buffers (rows and the head dimension rounded up to 16 floats, zeros in the padding), so every
// matrix product below runs a register-tiled micro-kernel over whole 16-lane vectors. Forward is
// FlashAttention's online softmax over blocks of 64 keys; the dropout mask of each block is drawn
// in the loop from the counter hash of dynadrop/core/hashed_masks.py, with the counter the element
// would have in the full (batch, head, query, key) probability tensor, so the masks equal the
// explicit path's from the same seeds. Backward recomputes each block's probabilities from the
// saved log-sum-exp and regenerates the same mask: no T x T tensor is ever stored.
//
// Plain C ABI (called through ctypes); threads come from OpenMP, the runtime PyTorch has loaded.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace {

constexpr int kLanes = 16;
constexpr int kBlock = 64;  // queries and keys per block; a multiple of kLanes

typedef float Floats __attribute__((vector_size(64)));
typedef int32_t Ints __attribute__((vector_size(64)));
typedef uint32_t Bits __attribute__((vector_size(64)));

inline int round_up(int value) { return (value + kLanes - 1) / kLanes * kLanes; }

inline Floats load(const float* p) { return *reinterpret_cast<const Floats*>(p); }
inline void store(float* p, Floats v) { *reinterpret_cast<Floats*>(p) = v; }
inline Floats splat(float x) { return Floats{} + x; }

inline float reduce_max(Floats v) {
  float best = v[0];
  for (int i = 1; i < kLanes; ++i) best = std::max(best, v[i]);
  return best;
}

inline float reduce_sum(Floats v) {
  float total = 0.0f;
  for (int i = 0; i < kLanes; ++i) total += v[i];
  return total;
}

// exp(x) by range reduction to [-ln2/2, ln2/2] and a degree-6 polynomial (Cephes' expf
// coefficients): a few ulp from expf; exactly 0 below the float underflow, so exp(-inf) == 0.
inline Floats exp_floats(Floats x) {
  const Floats clamped = x < splat(-87.3f) ? splat(-87.3f) : (x > splat(88.3f) ? splat(88.3f) : x);
  // round to nearest: adding and subtracting 1.5 * 2**23 leaves no fraction bits
  const Floats n = (clamped * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  Floats f = clamped - n * 0.693359375f;
  f = f - n * -2.12194440e-4f;
  Floats p = splat(1.9875691500e-4f);
  p = p * f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  p = p * f * f + f + 1.0f;
  const Ints scale = (__builtin_convertvector(n, Ints) + 127) << 23;
  const Floats result = p * (Floats)scale;
  return x < splat(-87.3f) ? splat(0.0f) : result;
}

// The bijective 32-bit mixer of hashed_masks._mix32 (logical shifts, products modulo 2**32).
inline Bits mix32(Bits bits) {
  bits ^= bits >> 16;
  bits *= 0x21F0AAADu;
  bits ^= bits >> 15;
  bits *= 0x735A2D97u;
  return bits ^ (bits >> 15);
}

// keep_scale where element counter + lane is kept (hash >= threshold), else 0.
inline Floats keep_factors(uint32_t counter, uint32_t seed0, uint32_t seed1, uint32_t threshold,
                           float keep_scale) {
  const Bits lanes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const Bits bits = mix32(mix32(lanes + (counter + seed0)) ^ seed1);
  const Ints kept = (bits >> 8) >= threshold;
  const Floats factor = splat(keep_scale);
  return (Floats)(kept & (Ints)factor);  // vector casts keep the bits
}

// C[m][n] (+)= sum_k A(m, k) * B[k][n] for a tile of R rows and V vectors of columns, held in
// registers across the whole k loop: accumulated onto C, or stored over it. A(m, k) =
// a[m * a_row + k * a_col], so a transposed A costs nothing; B rows are aligned vectors.
template <bool Accumulate, int R, int V>
inline void tile(float* c, int ldc, const float* a, int a_row, int a_col, const float* b, int ldb,
                 int depth) {
  Floats acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = Accumulate ? load(c + r * ldc + v * kLanes) : splat(0.0f);
  for (int k = 0; k < depth; ++k) {
    Floats row[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) row[v] = load(b + k * ldb + v * kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const float scalar = a[r * a_row + k * a_col];
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] += row[v] * scalar;
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) store(c + r * ldc + v * kLanes, acc[r][v]);
}

template <bool Accumulate, int V, int R>
inline void tile_rows(int rows, float* c, int ldc, const float* a, int a_row, int a_col, const float* b,
                      int ldb, int depth) {
  if constexpr (R > 0) {
    if (rows == R) return tile<Accumulate, R, V>(c, ldc, a, a_row, a_col, b, ldb, depth);
    tile_rows<Accumulate, V, R - 1>(rows, c, ldc, a, a_row, a_col, b, ldb, depth);
  }
}

// Rows per register tile for V vectors of columns: at most ~28 of the 32 vector registers.
constexpr int tile_height(int vectors) {
  return vectors == 1 ? 14 : (vectors == 2 ? 12 : (vectors == 3 ? 8 : 6));
}

template <bool Accumulate>
inline void any_tile(int rows, int vectors, float* c, int ldc, const float* a, int a_row, int a_col,
                     const float* b, int ldb, int depth) {
  switch (vectors) {
    case 1:
      return tile_rows<Accumulate, 1, tile_height(1)>(rows, c, ldc, a, a_row, a_col, b, ldb, depth);
    case 2:
      return tile_rows<Accumulate, 2, tile_height(2)>(rows, c, ldc, a, a_row, a_col, b, ldb, depth);
    case 3:
      return tile_rows<Accumulate, 3, tile_height(3)>(rows, c, ldc, a, a_row, a_col, b, ldb, depth);
    default:
      return tile_rows<Accumulate, 4, tile_height(4)>(rows, c, ldc, a, a_row, a_col, b, ldb, depth);
  }
}

// Which part of a product a block's causal triangle leaves, for a register tile of rows
// [m0, m0 + h) of a block whose queries start `offset` positions after its keys (0 on the
// diagonal, >= kBlock below it, where nothing is cut): a query q sees the keys k <= q + offset.
enum class Causal {
  kNone,
  kColumns,     // rows are queries, columns keys: columns < m0 + h + offset
  kDepthEnd,    // rows are queries, the summed index keys: depth < m0 + h + offset
  kDepthStart,  // rows are keys, the summed index queries: depth >= m0 - offset
};

// C (m x n, row stride ldc) (+)= A (m x depth, strides a_row / a_col) @ B (depth x n, row
// stride ldb), skipping what `causal` cuts; n a multiple of kLanes, C and B rows 64-byte
// aligned. Stored (not accumulated) columns that the cut skips are left as they were.
template <bool Accumulate>
void gemm(float* c, int ldc, const float* a, int a_row, int a_col, const float* b, int ldb, int m, int n,
          int depth, Causal causal = Causal::kNone, int offset = 0) {
  for (int column = 0; column < n; column += 4 * kLanes) {
    const int vectors = std::min(4, (n - column) / kLanes);
    const int height = tile_height(vectors);
    for (int row = 0; row < m; row += height) {
      const int rows = std::min(height, m - row);
      const int end = row + rows + offset;
      int tile_vectors = vectors, first = 0, last = depth;
      if (causal == Causal::kColumns) tile_vectors = std::min(vectors, (round_up(end) - column) / kLanes);
      if (causal == Causal::kDepthEnd) last = std::min(depth, end);
      if (causal == Causal::kDepthStart) first = std::clamp(row - offset, 0, depth);
      if (tile_vectors <= 0) continue;
      any_tile<Accumulate>(rows, tile_vectors, c + row * ldc + column, ldc, a + row * a_row + first * a_col,
                           a_row, a_col, b + first * ldb + column, ldb, std::max(last - first, 0));
    }
  }
}

struct Buffer {
  float* data = nullptr;
  explicit Buffer(size_t floats) {
    data = static_cast<float*>(std::aligned_alloc(64, std::max<size_t>(64, floats * sizeof(float))));
    std::memset(data, 0, floats * sizeof(float));
  }
  ~Buffer() { std::free(data); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

// A (batch, head, time, dim) view: element strides, the last one 1.
struct View {
  const float* data;
  int64_t batch, head, time;
  const float* row(int64_t b, int64_t h, int64_t t) const { return data + b * batch + h * head + t * time; }
};

struct Shape {
  int batch, heads, time, dim;
  int padded_time() const { return round_up(time); }
  int padded_dim() const { return round_up(dim); }
};

struct Dropout {
  uint32_t seed0, seed1, threshold;
  float keep_scale;
  bool active() const { return threshold > 0; }
  // threshold = ceil(rate * 2**24), exactly as hashed_masks.keep_mask_at compares.
  Dropout(float rate, const int32_t* seeds)
      : seed0(static_cast<uint32_t>(seeds[0])),
        seed1(static_cast<uint32_t>(seeds[1])),
        threshold(static_cast<uint32_t>(std::ceil(rate * 16777216.0f))),
        keep_scale(1.0f / (1.0f - rate)) {}
};

// rows x dim of a view into a padded (rows x padded_dim) buffer, times scale.
void copy_rows(float* into, int padded_dim, View from, int64_t b, int64_t h, int rows, int dim, float scale) {
  for (int t = 0; t < rows; ++t) {
    const float* source = from.row(b, h, t);
    float* target = into + static_cast<int64_t>(t) * padded_dim;
    for (int d = 0; d < dim; ++d) target[d] = source[d] * scale;
  }
}

// The transpose: into[d][t] = from[t][d], row stride padded_time.
void copy_columns(float* into, int padded_time, View from, int64_t b, int64_t h, int rows, int dim) {
  for (int t = 0; t < rows; ++t) {
    const float* source = from.row(b, h, t);
    for (int d = 0; d < dim; ++d) into[static_cast<int64_t>(d) * padded_time + t] = source[d];
  }
}

// Lanes at or past `count` become -inf (keys a query does not see).
inline Floats visible(Floats x, int count) {
  const Ints lanes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  return lanes < count ? x : splat(-std::numeric_limits<float>::infinity());
}

// One (query block, key block) pair: queries [q0, q0 + rows), keys [k0, k0 + keys) of which each
// query sees those up to itself; `width` is keys rounded up to whole vectors.
struct BlockPair {
  int q0, rows, k0, keys, width;
  int offset() const { return q0 - k0; }
  int seen_by(int r) const { return std::min(q0 + r - k0 + 1, keys); }  // keys row r sees, >= 1
  int live_vectors(int r) const { return (seen_by(r) + kLanes - 1) / kLanes; }
};

// scores = (q * scale) @ k^T for the keys each query sees, row stride kBlock.
void block_scores(float* scores, const float* q_scaled, const float* k_columns, int padded_time,
                  int padded_dim, const BlockPair& pair) {
  gemm<false>(scores, kBlock, q_scaled + static_cast<int64_t>(pair.q0) * padded_dim, padded_dim, 1,
              k_columns + pair.k0, padded_time, pair.rows, pair.width, padded_dim, Causal::kColumns,
              pair.offset());
}

// Counter of element (bh, query, key) of the (batch*heads, time, time) probabilities.
inline uint32_t counter_of(int64_t bh, int query, int key, int time) {
  return static_cast<uint32_t>((bh * time + query) * time + key);
}

void forward_head(const Shape& s, const Dropout& dropout, View q, View k, View v, float* out,
                  int64_t out_batch, int64_t out_head, int64_t out_time, float* log_sum_exp, int b, int h,
                  float* q_scaled, float* k_columns, float* values, float* scores, float* accumulated,
                  float* running_max, float* running_sum) {
  const int time = s.time, padded_time = s.padded_time(), padded_dim = s.padded_dim();
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.dim));
  const int64_t bh = static_cast<int64_t>(b) * s.heads + h;
  copy_rows(q_scaled, padded_dim, q, b, h, time, s.dim, scale);
  copy_columns(k_columns, padded_time, k, b, h, time, s.dim);
  copy_rows(values, padded_dim, v, b, h, time, s.dim, 1.0f);
  for (int q0 = 0; q0 < time; q0 += kBlock) {
    const int rows = std::min(kBlock, time - q0);
    std::fill(accumulated, accumulated + rows * padded_dim, 0.0f);
    std::fill(running_max, running_max + rows, -std::numeric_limits<float>::infinity());
    std::fill(running_sum, running_sum + rows, 0.0f);
    const int key_end = q0 + rows;
    for (int k0 = 0; k0 < key_end; k0 += kBlock) {
      const int keys = std::min(kBlock, key_end - k0);
      const BlockPair pair{q0, rows, k0, keys, round_up(keys)};
      block_scores(scores, q_scaled, k_columns, padded_time, padded_dim, pair);
      for (int r = 0; r < rows; ++r) {
        float* row = scores + r * kBlock;
        const int seen = pair.seen_by(r), live = pair.live_vectors(r) * kLanes;
        Floats best = splat(running_max[r]);
        for (int j = 0; j < live; j += kLanes) {
          const Floats x = visible(load(row + j), seen - j);
          best = x > best ? x : best;
        }
        const float new_max = reduce_max(best);
        const float correction = std::exp(running_max[r] - new_max);  // exp(-inf) = 0 at the start
        Floats total = splat(0.0f);
        const uint32_t counter = counter_of(bh, q0 + r, k0, time);
        for (int j = 0; j < live; j += kLanes) {
          Floats p = exp_floats(visible(load(row + j), seen - j) - new_max);
          total += p;
          if (dropout.active())
            p *= keep_factors(counter + j, dropout.seed0, dropout.seed1, dropout.threshold, 1.0f);
          store(row + j, p);
        }
        for (int j = live; j < pair.width; j += kLanes) store(row + j, splat(0.0f));
        running_sum[r] = running_sum[r] * correction + reduce_sum(total);
        running_max[r] = new_max;
        float* acc = accumulated + r * padded_dim;
        for (int d = 0; d < padded_dim; d += kLanes) store(acc + d, load(acc + d) * correction);
      }
      gemm<true>(accumulated, padded_dim, scores, kBlock, 1, values + static_cast<int64_t>(k0) * padded_dim,
                 padded_dim, rows, padded_dim, keys, Causal::kDepthEnd, pair.offset());
    }
    for (int r = 0; r < rows; ++r) {
      const float factor = (dropout.active() ? dropout.keep_scale : 1.0f) / running_sum[r];
      float* target = out + b * out_batch + h * out_head + static_cast<int64_t>(q0 + r) * out_time;
      const float* acc = accumulated + r * padded_dim;
      for (int d = 0; d < s.dim; ++d) target[d] = acc[d] * factor;
      log_sum_exp[bh * time + q0 + r] = running_max[r] + std::log(running_sum[r]);
    }
  }
}

void backward_head(const Shape& s, const Dropout& dropout, View q, View k, View v, View out, View grad_out,
                   const float* log_sum_exp, float* grad_q, float* grad_k, float* grad_v, int64_t g_batch,
                   int64_t g_head, int64_t g_time, int b, int h, float* q_scaled, float* keys_rows,
                   float* k_columns, float* v_columns, float* grad_rows, float* grad_k_acc, float* grad_v_acc,
                   float* probabilities, float* grad_scores, float* grad_q_acc, float* row_dot) {
  const int time = s.time, padded_time = s.padded_time(), padded_dim = s.padded_dim();
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.dim));
  const int64_t bh = static_cast<int64_t>(b) * s.heads + h;
  copy_rows(q_scaled, padded_dim, q, b, h, time, s.dim, scale);
  copy_rows(keys_rows, padded_dim, k, b, h, time, s.dim, 1.0f);
  copy_columns(k_columns, padded_time, k, b, h, time, s.dim);
  copy_columns(v_columns, padded_time, v, b, h, time, s.dim);
  copy_rows(grad_rows, padded_dim, grad_out, b, h, time, s.dim, 1.0f);
  std::fill(grad_k_acc, grad_k_acc + static_cast<int64_t>(padded_time) * padded_dim, 0.0f);
  std::fill(grad_v_acc, grad_v_acc + static_cast<int64_t>(padded_time) * padded_dim, 0.0f);
  // sum_j P_ij dP_ij = dO_i . O_i (the mask is in both)
  for (int t = 0; t < time; ++t) {
    const float* o = out.row(b, h, t);
    const float* g = grad_rows + static_cast<int64_t>(t) * padded_dim;
    float total = 0.0f;
    for (int d = 0; d < s.dim; ++d) total += o[d] * g[d];
    row_dot[t] = total;
  }
  const float keep_scale = dropout.active() ? dropout.keep_scale : 1.0f;
  for (int q0 = 0; q0 < time; q0 += kBlock) {
    const int rows = std::min(kBlock, time - q0);
    std::fill(grad_q_acc, grad_q_acc + rows * padded_dim, 0.0f);
    const float* grad_out_block = grad_rows + static_cast<int64_t>(q0) * padded_dim;
    const float* q_block = q_scaled + static_cast<int64_t>(q0) * padded_dim;
    const int key_end = q0 + rows;
    for (int k0 = 0; k0 < key_end; k0 += kBlock) {
      const int keys = std::min(kBlock, key_end - k0);
      const BlockPair pair{q0, rows, k0, keys, round_up(keys)};
      block_scores(probabilities, q_scaled, k_columns, padded_time, padded_dim, pair);
      // grad_scores starts as dO @ V^T (the gradient of the dropped probabilities)
      gemm<false>(grad_scores, kBlock, grad_out_block, padded_dim, 1, v_columns + k0, padded_time, rows,
                  pair.width, padded_dim, Causal::kColumns, pair.offset());
      for (int r = 0; r < rows; ++r) {
        float* p_row = probabilities + r * kBlock;
        float* g_row = grad_scores + r * kBlock;
        const int seen = pair.seen_by(r), live = pair.live_vectors(r) * kLanes;
        const float lse = log_sum_exp[bh * time + q0 + r];
        const Floats dot = splat(row_dot[q0 + r]);
        const uint32_t counter = counter_of(bh, q0 + r, k0, time);
        for (int j = 0; j < live; j += kLanes) {
          const Floats p = exp_floats(visible(load(p_row + j), seen - j) - lse);
          const Floats keep = dropout.active() ? keep_factors(counter + j, dropout.seed0, dropout.seed1,
                                                              dropout.threshold, keep_scale)
                                               : splat(1.0f);
          store(g_row + j, p * (load(g_row + j) * keep - dot));
          store(p_row + j, p * keep);  // now the dropped, rescaled probabilities
        }
        for (int j = live; j < pair.width; j += kLanes) {
          store(g_row + j, splat(0.0f));
          store(p_row + j, splat(0.0f));
        }
      }
      gemm<true>(grad_v_acc + static_cast<int64_t>(k0) * padded_dim, padded_dim, probabilities, 1, kBlock,
                 grad_out_block, padded_dim, keys, padded_dim, rows, Causal::kDepthStart, pair.offset());
      gemm<true>(grad_q_acc, padded_dim, grad_scores, kBlock, 1,
                 keys_rows + static_cast<int64_t>(k0) * padded_dim, padded_dim, rows, padded_dim, keys,
                 Causal::kDepthEnd, pair.offset());
      gemm<true>(grad_k_acc + static_cast<int64_t>(k0) * padded_dim, padded_dim, grad_scores, 1, kBlock,
                 q_block, padded_dim, keys, padded_dim, rows, Causal::kDepthStart, pair.offset());
    }
    for (int r = 0; r < rows; ++r) {
      float* target = grad_q + b * g_batch + h * g_head + static_cast<int64_t>(q0 + r) * g_time;
      const float* acc = grad_q_acc + r * padded_dim;
      for (int d = 0; d < s.dim; ++d) target[d] = acc[d] * scale;
    }
  }
  for (int t = 0; t < time; ++t) {
    const int64_t at = b * g_batch + h * g_head + static_cast<int64_t>(t) * g_time;
    const float* gk = grad_k_acc + static_cast<int64_t>(t) * padded_dim;
    const float* gv = grad_v_acc + static_cast<int64_t>(t) * padded_dim;
    for (int d = 0; d < s.dim; ++d) {
      grad_k[at + d] = gk[d];
      grad_v[at + d] = gv[d];
    }
  }
}

// What both directions share: the shape, the dropout, the q, k, v views, the padded head size.
struct Problem {
  Shape shape;
  Dropout dropout;
  View q, k, v;
  int64_t heads_total() const { return static_cast<int64_t>(shape.batch) * shape.heads; }
  size_t matrix() const { return static_cast<size_t>(shape.padded_time()) * shape.padded_dim(); }
};

View view_of(const float* data, const int64_t* strides) {
  return View{data, strides[0], strides[1], strides[2]};
}

// The arguments both entry points share, gathered into one Problem.
Problem problem_of(const float* q, const int64_t* q_strides, const float* k, const int64_t* k_strides,
                   const float* v, const int64_t* v_strides, int batch, int heads, int time, int dim,
                   const float* rate, const int32_t* seeds) {
  return Problem{{batch, heads, time, dim},
                 Dropout(*rate, seeds),
                 view_of(q, q_strides),
                 view_of(k, k_strides),
                 view_of(v, v_strides)};
}

}  // namespace

extern "C" {

// q, k, v: (batch, head, time, dim) views given by element strides (last dim contiguous).
// out: same shape, strides out_strides; log_sum_exp: (batch*head*time) contiguous.
void dynadrop_attention_forward(const float* q, const int64_t* q_strides, const float* k,
                                const int64_t* k_strides, const float* v, const int64_t* v_strides,
                                float* out, const int64_t* out_strides, float* log_sum_exp, int batch,
                                int heads, int time, int dim, const float* rate, const int32_t* seeds,
                                int threads) {
  const Problem p = problem_of(q, q_strides, k, k_strides, v, v_strides, batch, heads, time, dim, rate, seeds);
#pragma omp parallel num_threads(threads)
  {
    Buffer q_scaled(p.matrix()), k_columns(p.matrix()), values(p.matrix()), scores(kBlock * kBlock),
        accumulated(static_cast<size_t>(kBlock) * p.shape.padded_dim()), running_max(kBlock),
        running_sum(kBlock);
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < p.heads_total(); ++bh)
      forward_head(p.shape, p.dropout, p.q, p.k, p.v, out, out_strides[0], out_strides[1], out_strides[2],
                   log_sum_exp, static_cast<int>(bh / heads), static_cast<int>(bh % heads), q_scaled.data,
                   k_columns.data, values.data, scores.data, accumulated.data, running_max.data,
                   running_sum.data);
  }
}

// grad_q, grad_k, grad_v: (batch, head, time, dim) with the shared strides grad_strides.
void dynadrop_attention_backward(const float* q, const int64_t* q_strides, const float* k,
                                 const int64_t* k_strides, const float* v, const int64_t* v_strides,
                                 const float* out, const int64_t* out_strides, const float* grad_out,
                                 const int64_t* grad_out_strides, const float* log_sum_exp, float* grad_q,
                                 float* grad_k, float* grad_v, const int64_t* grad_strides, int batch,
                                 int heads, int time, int dim, const float* rate, const int32_t* seeds,
                                 int threads) {
  const Problem p = problem_of(q, q_strides, k, k_strides, v, v_strides, batch, heads, time, dim, rate, seeds);
  const View ov = view_of(out, out_strides), gv = view_of(grad_out, grad_out_strides);
#pragma omp parallel num_threads(threads)
  {
    const size_t matrix = p.matrix();
    Buffer q_scaled(matrix), keys_rows(matrix), k_columns(matrix), v_columns(matrix), grad_rows(matrix),
        grad_k_acc(matrix), grad_v_acc(matrix), probabilities(kBlock * kBlock), grad_scores(kBlock * kBlock),
        grad_q_acc(static_cast<size_t>(kBlock) * p.shape.padded_dim()), row_dot(p.shape.padded_time());
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < p.heads_total(); ++bh)
      backward_head(p.shape, p.dropout, p.q, p.k, p.v, ov, gv, log_sum_exp, grad_q, grad_k, grad_v,
                    grad_strides[0], grad_strides[1], grad_strides[2], static_cast<int>(bh / heads),
                    static_cast<int>(bh % heads), q_scaled.data, keys_rows.data, k_columns.data,
                    v_columns.data, grad_rows.data, grad_k_acc.data, grad_v_acc.data, probabilities.data,
                    grad_scores.data, grad_q_acc.data, row_dot.data);
  }
}

}  // extern "C"
