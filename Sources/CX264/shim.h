// x264.h needs the fixed-width integer types first, and names its open function through a macro
// (x264_encoder_open_164) that Swift cannot call: this header does both.
#include <stdint.h>
#include <x264.h>

static inline x264_t *blackbox_x264_encoder_open(x264_param_t *param) { return x264_encoder_open(param); }
