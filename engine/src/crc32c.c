/*
 * CRC32C: SSE4.2 crc32 instruction, three streams interleaved and combined with
 * precomputed "shift by N zero bytes" tables (after Mark Adler's crc32c.c), with a
 * slicing-by-8 software fallback. Runtime detection with __builtin_cpu_supports.
 */
#include "crc32c.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLY 0x82f63b78u
#define LONG_BLK 8192
#define SHORT_BLK 256

static uint32_t sw_table[8][256];
static uint32_t zeros_long[4][256];
static uint32_t zeros_short[4][256];
/* hw_present: the CPU has SSE4.2; use_hw: the implementation chosen (see choose_impl). */
static int hw_present;
static int use_hw;
static int initialised;

static uint32_t gf2_matrix_times(const uint32_t *mat, uint32_t vec) {
  uint32_t sum = 0;
  while (vec) {
    if (vec & 1) sum ^= *mat;
    vec >>= 1;
    mat++;
  }
  return sum;
}

static void gf2_matrix_square(uint32_t *square, const uint32_t *mat) {
  for (int n = 0; n < 32; n++) square[n] = gf2_matrix_times(mat, mat[n]);
}

/* Operator that applies len (a power of two) zero bytes to a raw CRC register. */
static void zeros_op(uint32_t *even, size_t len) {
  uint32_t odd[32];
  uint32_t row = 1;
  odd[0] = POLY;
  for (int n = 1; n < 32; n++) {
    odd[n] = row;
    row <<= 1;
  }
  gf2_matrix_square(even, odd); /* 2 zero bits */
  gf2_matrix_square(odd, even); /* 4 zero bits */
  do {
    gf2_matrix_square(even, odd);
    len >>= 1;
    if (len == 0) return;
    gf2_matrix_square(odd, even);
    len >>= 1;
  } while (len);
  memcpy(even, odd, sizeof(odd));
}

static void zeros_table(uint32_t zeros[4][256], size_t len) {
  uint32_t op[32];
  zeros_op(op, len);
  for (uint32_t n = 0; n < 256; n++) {
    zeros[0][n] = gf2_matrix_times(op, n);
    zeros[1][n] = gf2_matrix_times(op, n << 8);
    zeros[2][n] = gf2_matrix_times(op, n << 16);
    zeros[3][n] = gf2_matrix_times(op, n << 24);
  }
}

static inline uint32_t shift_crc(uint32_t zeros[4][256], uint32_t crc) {
  return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^
         zeros[3][crc >> 24];
}

static int choose_impl(void);

void crc32c_init(void) {
  if (initialised) return;
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
    sw_table[0][n] = c;
  }
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = sw_table[0][n];
    for (int k = 1; k < 8; k++) {
      c = sw_table[0][c & 0xff] ^ (c >> 8);
      sw_table[k][n] = c;
    }
  }
  zeros_table(zeros_long, LONG_BLK);
  zeros_table(zeros_short, SHORT_BLK);
#if defined(__x86_64__)
  __builtin_cpu_init();
  hw_present = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
  hw_present = 0;
#endif
  initialised = 1;
  use_hw = choose_impl();
}

int crc32c_hw_available(void) {
  crc32c_init();
  return hw_present;
}

const char *crc32c_impl(void) {
  crc32c_init();
  return use_hw ? "sse4.2-3way" : "sw-slice8";
}

static inline uint64_t load64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len) {
  const unsigned char *p = buf;
  uint32_t c = crc ^ 0xffffffffu;
  while (len && ((uintptr_t)p & 7)) {
    c = sw_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    len--;
  }
  while (len >= 8) {
    uint64_t w = load64(p) ^ c; /* little-endian host assumed (x86_64/aarch64) */
    c = sw_table[7][w & 0xff] ^ sw_table[6][(w >> 8) & 0xff] ^ sw_table[5][(w >> 16) & 0xff] ^
        sw_table[4][(w >> 24) & 0xff] ^ sw_table[3][(w >> 32) & 0xff] ^
        sw_table[2][(w >> 40) & 0xff] ^ sw_table[1][(w >> 48) & 0xff] ^ sw_table[0][w >> 56];
    p += 8;
    len -= 8;
  }
  while (len--) c = sw_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len) {
  const unsigned char *next = buf;
  uint64_t crc0 = crc ^ 0xffffffffu, crc1, crc2;
  while (len && ((uintptr_t)next & 7)) {
    crc0 = _mm_crc32_u8((uint32_t)crc0, *next++);
    len--;
  }
  while (len >= LONG_BLK * 3) {
    crc1 = 0;
    crc2 = 0;
    const unsigned char *end = next + LONG_BLK;
    do {
      crc0 = _mm_crc32_u64(crc0, load64(next));
      crc1 = _mm_crc32_u64(crc1, load64(next + LONG_BLK));
      crc2 = _mm_crc32_u64(crc2, load64(next + 2 * LONG_BLK));
      next += 8;
    } while (next < end);
    crc0 = shift_crc(zeros_long, (uint32_t)crc0) ^ crc1;
    crc0 = shift_crc(zeros_long, (uint32_t)crc0) ^ crc2;
    next += 2 * LONG_BLK;
    len -= 3 * LONG_BLK;
  }
  while (len >= SHORT_BLK * 3) {
    crc1 = 0;
    crc2 = 0;
    const unsigned char *end = next + SHORT_BLK;
    do {
      crc0 = _mm_crc32_u64(crc0, load64(next));
      crc1 = _mm_crc32_u64(crc1, load64(next + SHORT_BLK));
      crc2 = _mm_crc32_u64(crc2, load64(next + 2 * SHORT_BLK));
      next += 8;
    } while (next < end);
    crc0 = shift_crc(zeros_short, (uint32_t)crc0) ^ crc1;
    crc0 = shift_crc(zeros_short, (uint32_t)crc0) ^ crc2;
    next += 2 * SHORT_BLK;
    len -= 3 * SHORT_BLK;
  }
  while (len >= 8) {
    crc0 = _mm_crc32_u64(crc0, load64(next));
    next += 8;
    len -= 8;
  }
  while (len--) crc0 = _mm_crc32_u8((uint32_t)crc0, *next++);
  return (uint32_t)crc0 ^ 0xffffffffu;
}
#else
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len) { return crc32c_sw(crc, buf, len); }
#endif

uint32_t crc32c(uint32_t crc, const void *buf, size_t len) {
  if (!initialised) crc32c_init();
  return use_hw ? crc32c_hw(crc, buf, len) : crc32c_sw(crc, buf, len);
}

static volatile uint32_t calibration_sink;

static double seconds_for(uint32_t (*fn)(uint32_t, const void *, size_t), const unsigned char *b, size_t n) {
  struct timespec a, z;
  uint32_t c = 0;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < 4; i++) c = fn(c, b, n);
  clock_gettime(CLOCK_MONOTONIC, &z);
  calibration_sink ^= c;
  return (double)(z.tv_sec - a.tv_sec) + (double)(z.tv_nsec - a.tv_nsec) / 1e9;
}

/*
 * The SSE4.2 instruction is about ten times faster than slicing-by-8 on hardware, but an
 * emulator (QEMU TCG) runs it through a helper slower than the table code: time both on
 * 128 KiB (well under a millisecond on hardware) and keep the faster.
 * VFIO_MIG_ENGINE_CRC=hw|sw forces a choice.
 */
static int choose_impl(void) {
  const char *force = getenv("VFIO_MIG_ENGINE_CRC");
  if (force && strcmp(force, "sw") == 0) return 0;
  if (!hw_present) return 0;
  if (force && strcmp(force, "hw") == 0) return 1;
  static unsigned char b[32768];
  for (size_t i = 0; i < sizeof b; i++) b[i] = (unsigned char)(i * 131u + 7u);
  double hw = 1e9, sw = 1e9;
  for (int round = 0; round < 2; round++) {
    double h = seconds_for(crc32c_hw, b, sizeof b), w = seconds_for(crc32c_sw, b, sizeof b);
    if (h < hw) hw = h;
    if (w < sw) sw = w;
  }
  return hw <= sw;
}
