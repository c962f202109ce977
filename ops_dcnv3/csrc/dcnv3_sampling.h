// Sampling geometry of DCNv3, shared by the CPU and CUDA kernels.
//
// Conventions (docs/en/advanced_guides/dcnv3_spec.md): channels-last tensors,
// offsets in (x, y) order, sampling points enumerated x-major (k = a*Kh + b with
// a along x), offset_scale applied to the regular grid around its centre as well
// as to the learned offsets, optional removal of the centre point, and bilinear
// interpolation in which every tap outside the unpadded input contributes zero.
#pragma once

#include <c10/macros/Macros.h>
#include <cstdint>

namespace dcnv3 {

struct Geometry {
  int64_t batch, height_in, width_in, channels;
  int64_t height_out, width_out;
  int64_t group, group_channels, points;
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  double offset_scale;
  bool remove_center;
};

// Where the offsets and mask value of output pixel ``pix``, group ``grp``, point ``k`` lie
// in memory: offsets (x, y) at offset[pix * offset_pixel + grp * offset_group + 2k (+ 1)],
// the mask value at mask[pix * mask_pixel + grp * mask_group + k]. DCNv3 has two tensors with
// the groups packed (group strides 2P and P); DCNv4 one offset_mask row per pixel in which
// each group holds 3P values, its 2P offsets then its P mask values (the mask pointer is then
// the same tensor's, 2P elements in).
struct PointLayout {
  int64_t offset_pixel, offset_group, mask_pixel, mask_group;

  C10_HOST_DEVICE int64_t offset_at(int64_t pix, int64_t grp, int64_t k) const {
    return pix * offset_pixel + grp * offset_group + 2 * k;
  }
  C10_HOST_DEVICE int64_t mask_at(int64_t pix, int64_t grp, int64_t k) const {
    return pix * mask_pixel + grp * mask_group + k;
  }
};

// DCNv3's layout: offsets and mask in separate rows of the given pixel strides.
inline PointLayout separate_layout(const Geometry& g, int64_t offset_pixel, int64_t mask_pixel) {
  return {offset_pixel, 2 * g.points, mask_pixel, g.points};
}

// DCNv4's layout: one offset_mask row of ``pixel`` elements, 3P per group.
inline PointLayout fused_layout(const Geometry& g, int64_t pixel) {
  return {pixel, 3 * g.points, pixel, 3 * g.points};
}

// Regular-grid position of sampling point k relative to the grid centre, in
// pixels, before offset_scale: (a*dw - cx, b*dh - cy).
C10_HOST_DEVICE inline void grid_point(const Geometry& g, int64_t k, int64_t& dx, int64_t& dy) {
  if (g.remove_center) {
    // The centre has x-major index (Kw/2)*Kh + Kh/2; later points shift up by one.
    const int64_t center = (g.kernel_w / 2) * g.kernel_h + g.kernel_h / 2;
    if (k >= center) ++k;
  }
  const int64_t a = k / g.kernel_h;  // along x
  const int64_t b = k % g.kernel_h;  // along y
  dx = a * g.dilation_w - (g.dilation_w * (g.kernel_w - 1)) / 2;
  dy = b * g.dilation_h - (g.dilation_h * (g.kernel_h - 1)) / 2;
}

// The four bilinear taps around (px, py). Taps outside the image get weight 0
// and index -1, so kernels can skip or redirect them without reading memory.
template <typename acc_t>
struct BilinearTaps {
  int64_t index[4];  // pixel index y*W + x of taps (y0,x0), (y0,x1), (y1,x0), (y1,x1); -1 if outside
  acc_t weight[4];
  acc_t lx, ly;      // fractional position inside the cell
  bool any;          // at least one tap inside the image
};

template <typename acc_t>
C10_HOST_DEVICE inline BilinearTaps<acc_t> bilinear_taps(acc_t px, acc_t py, int64_t height, int64_t width) {
  BilinearTaps<acc_t> t;
  // The negated comparison also rejects NaN and +-inf: such a point contributes 0.
  t.any = (px > acc_t(-1)) && (py > acc_t(-1)) && (px < acc_t(width)) && (py < acc_t(height));
  if (!t.any) {
    for (int i = 0; i < 4; ++i) { t.index[i] = -1; t.weight[i] = acc_t(0); }
    t.lx = t.ly = acc_t(0);
    return t;
  }
  const acc_t fx = px < acc_t(0) ? acc_t(-1) : static_cast<acc_t>(static_cast<int64_t>(px));
  const acc_t fy = py < acc_t(0) ? acc_t(-1) : static_cast<acc_t>(static_cast<int64_t>(py));
  const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
  t.lx = px - fx;
  t.ly = py - fy;
  const acc_t hx = acc_t(1) - t.lx, hy = acc_t(1) - t.ly;
  t.weight[0] = hy * hx;
  t.weight[1] = hy * t.lx;
  t.weight[2] = t.ly * hx;
  t.weight[3] = t.ly * t.lx;
  const int64_t base = y0 * width + x0;
  t.index[0] = base;
  t.index[1] = base + 1;
  t.index[2] = base + width;
  t.index[3] = base + width + 1;
  if (x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height) return t;  // the common case
  const bool x_in[2] = {x0 >= 0, x0 + 1 < width}, y_in[2] = {y0 >= 0, y0 + 1 < height};
  for (int i = 0; i < 4; ++i) {
    if (!(x_in[i & 1] && y_in[i >> 1])) {
      t.index[i] = -1;
      t.weight[i] = acc_t(0);
    }
  }
  return t;
}

// Regular-grid position of point k relative to the centre, times offset_scale
// (the spec scales the grid as well as the learned offsets).
template <typename acc_t>
C10_HOST_DEVICE inline void scaled_grid_point(const Geometry& g, int64_t k, acc_t& gx, acc_t& gy) {
  int64_t dx, dy;
  grid_point(g, k, dx, dy);
  gx = acc_t(dx) * static_cast<acc_t>(g.offset_scale);
  gy = acc_t(dy) * static_cast<acc_t>(g.offset_scale);
}

// Position of the grid centre for output pixel (i, j), in input pixels.
template <typename acc_t>
C10_HOST_DEVICE inline void grid_centre(const Geometry& g, int64_t i, int64_t j, acc_t& cx, acc_t& cy) {
  cx = acc_t(j * g.stride_w - g.pad_w + (g.dilation_w * (g.kernel_w - 1)) / 2);
  cy = acc_t(i * g.stride_h - g.pad_h + (g.dilation_h * (g.kernel_h - 1)) / 2);
}

// Sampling position of a point: centre + scaled grid point + scaled learned offset (ox, oy).
template <typename acc_t>
C10_HOST_DEVICE inline void sampling_position(acc_t cx, acc_t cy, acc_t gx, acc_t gy, acc_t ox, acc_t oy,
                                              acc_t scale, acc_t& px, acc_t& py) {
  px = cx + gx + ox * scale;
  py = cy + gy + oy * scale;
}

}  // namespace dcnv3
