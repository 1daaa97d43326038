/*
 * strata_crc32c: CRC-32C (Castagnoli) for strata, as a Node-API addon.
 *
 * Where it sits: src/pg/crc32c.ts loads it (when `npm ci` could build it, see
 * scripts/build-native.js) to check WAL records; without it strata uses JavaScript.
 *
 * Why our own: a call into any native library costs ~100-170 ns, more than checksumming a
 * typical 64-byte WAL record in JavaScript, so a per-record native call does not pay. Here one
 * call walks the records of a chunk and checks their headers and CRCs (scanXLogRecords), each the
 * way ValidXLogRecordHeader and ValidXLogRecord check one. It uses the SSE 4.2 crc32 instruction (as PostgreSQL's
 * pg_comp_crc32c_sse42 does), on three streams at once for long inputs (one stream waits three
 * cycles per instruction; three keep the unit busy), with tables where the CPU lacks it. Where the
 * CPU has AVX-512 and VPCLMULQDQ, inputs of 128 bytes and more are folded with carry-less
 * multiplies instead, 256 bytes a step (8 kB in cache, a call from JavaScript each: ~52 GB/s here
 * against ~21 with three crc32 streams; in C on 1-8 kB ~65-75 against ~9 for one stream): full-page
 * images are most of a WAL's bytes.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SSE42_PATH 1
#define HW __attribute__((target("sse4.2")))
#endif

/* xl_tot_len @0 ... xl_crc @20; the header is 24 bytes (SizeOfXLogRecord). */
#define XLOG_RECORD_CRC_OFFSET 20
#define SIZE_OF_XLOG_RECORD 24

/* Slicing-by-8 tables, for CPUs without the instruction: sw[k][b] is the CRC of b then k zeros. */
static uint32_t sw[8][256];

static void make_sw_tables(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    sw[0][i] = c;
  }
  for (int k = 1; k < 8; k++)
    for (int i = 0; i < 256; i++) sw[k][i] = sw[0][sw[k - 1][i] & 0xff] ^ (sw[k - 1][i] >> 8);
}

/* The CRC register (not inverted) after `n` bytes at `p`. */
static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n) {
  for (; n >= 8; n -= 8, p += 8) {
    uint32_t lo, hi;
    memcpy(&lo, p, 4);
    memcpy(&hi, p + 4, 4);
    lo ^= c;
    c = sw[7][lo & 0xff] ^ sw[6][(lo >> 8) & 0xff] ^ sw[5][(lo >> 16) & 0xff] ^ sw[4][lo >> 24] ^
        sw[3][hi & 0xff] ^ sw[2][(hi >> 8) & 0xff] ^ sw[1][(hi >> 16) & 0xff] ^ sw[0][hi >> 24];
  }
  while (n--) c = sw[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return c;
}

#ifdef HAVE_SSE42_PATH
/*
 * The last n < 8 bytes, in at most three steps (4, 2, 1 bytes): a step waits for the one before
 * (three cycles), and most WAL records' lengths are not multiples of 8, nor is the 20-byte header
 * part that ends each record's CRC.
 */
HW static inline uint32_t crc_tail_hw(uint32_t c, const uint8_t *p, size_t n) {
  if (n & 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    c = _mm_crc32_u32(c, w);
    p += 4;
  }
  if (n & 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    c = _mm_crc32_u16(c, w);
    p += 2;
  }
  if (n & 1) c = _mm_crc32_u8(c, *p);
  return c;
}

/* Bytes per stream in the three-stream loops: long inputs first, then what is left in short steps. */
#define LONG_BYTES 2048
#define SHORT_BYTES 256

/*
 * shift_long[k][b] is the register after LONG_BYTES zero bytes from the register (b << 8k): the
 * register is linear in its start, so a stream's CRC moves past the streams after it by 4 lookups.
 */
static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];

HW static uint32_t zeros_hw(uint32_t c, size_t n) {
  uint64_t r = c;
  for (; n >= 8; n -= 8) r = _mm_crc32_u64(r, 0);
  return (uint32_t)r;
}

HW static void make_shift_table(uint32_t t[4][256], size_t n) {
  uint32_t basis[32];
  for (int i = 0; i < 32; i++) basis[i] = zeros_hw(1u << i, n);
  for (int k = 0; k < 4; k++)
    for (int b = 0; b < 256; b++) {
      uint32_t v = 0;
      for (int j = 0; j < 8; j++)
        if ((b >> j) & 1) v ^= basis[8 * k + j];
      t[k][b] = v;
    }
}

static inline uint32_t shift(uint32_t t[4][256], uint32_t c) {
  return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

#define THREE_STREAMS(L, TABLE)                                              \
  while (n >= 3 * (L)) {                                                     \
    uint64_t c1 = 0, c2 = 0;                                                 \
    const uint8_t *end = p + (L);                                            \
    do {                                                                     \
      uint64_t w0, w1, w2;                                                   \
      memcpy(&w0, p, 8);                                                     \
      memcpy(&w1, p + (L), 8);                                               \
      memcpy(&w2, p + 2 * (L), 8);                                           \
      c0 = _mm_crc32_u64(c0, w0);                                            \
      c1 = _mm_crc32_u64(c1, w1);                                            \
      c2 = _mm_crc32_u64(c2, w2);                                            \
      p += 8;                                                                \
    } while (p < end);                                                       \
    c0 = shift(TABLE, (uint32_t)c0) ^ (uint32_t)c1;                          \
    c0 = shift(TABLE, (uint32_t)c0) ^ (uint32_t)c2;                          \
    p += 2 * (L);                                                            \
    n -= 3 * (L);                                                            \
  }

HW static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t n) {
  uint64_t c0 = c;
  THREE_STREAMS(LONG_BYTES, shift_long)
  THREE_STREAMS(SHORT_BYTES, shift_short)
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c0 = _mm_crc32_u64(c0, w);
  }
  return crc_tail_hw((uint32_t)c0, p, n);
}

/*
 * Folding with carry-less multiplies (the method of Intel's "Fast CRC Computation for Generic
 * Polynomials Using PCLMULQDQ", on 512-bit registers). The CRC register after a message M is
 * M(x) * x^32 mod P, bits reflected; a 128-bit lane of the message, low quadword H and high L,
 * is H * x^64 + L, and what it adds to the CRC is unchanged when it is replaced by
 * (H * x^(64+D) + L * x^D) mod P and moved D bits on. A carry-less multiply of reflected operands
 * gives x * A * B, so the multipliers are x^(64+D-1) and x^(D-1) mod P. Lanes are folded until
 * one 128-bit lane is left, whose CRC the crc32 instruction takes, then the bytes after it.
 */
#define FOLD_MIN_BYTES 128

/* x^d mod P as a reflected 64-bit multiplier (coefficient of x^j at bit 63 - j). */
static uint64_t x_pow_mod_p(unsigned d) {
  uint64_t r = 1;
  while (d--) {
    r <<= 1;
    if (r & 0x100000000ull) r ^= 0x11edc6f41ull; /* CRC-32C's polynomial, x^32 included */
  }
  uint32_t reflected = 0;
  for (int i = 0; i < 32; i++)
    if ((r >> i) & 1) reflected |= 1u << (31 - i);
  return (uint64_t)reflected << 32;
}

/* The multipliers of a lane moved `bits` on: the low quadword's, then the high one's. */
static void fold_multipliers(uint64_t *k, unsigned bits) {
  k[0] = x_pow_mod_p(64 + bits - 1);
  k[1] = x_pow_mod_p(bits - 1);
}

/* Each lane moved 2048 bits (four registers on), 512 bits (one register on), and the four lanes
 * of a register onto its last: 384, 256 and 128 bits (the last lane's pair unused). */
static uint64_t fold_2048[8], fold_512[8], fold_lanes[8];

static void make_fold_multipliers(void) {
  for (int i = 0; i < 4; i++) {
    fold_multipliers(fold_2048 + 2 * i, 2048);
    fold_multipliers(fold_512 + 2 * i, 512);
  }
  fold_multipliers(fold_lanes, 384);
  fold_multipliers(fold_lanes + 2, 256);
  fold_multipliers(fold_lanes + 4, 128);
}

#define FOLD_HW __attribute__((target("avx512f,avx512vl,vpclmulqdq,sse4.2")))

/* x's lanes moved on by k's distance, added to `data`. */
FOLD_HW static inline __m512i fold(__m512i x, __m512i k, __m512i data) {
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00), _mm512_clmulepi64_epi128(x, k, 0x11), data, 0x96);
}

/* crc_hw for n >= FOLD_MIN_BYTES. */
FOLD_HW static uint32_t crc_fold(uint32_t c, const uint8_t *p, size_t n) {
  const __m512i k2048 = _mm512_loadu_si512(fold_2048), k512 = _mm512_loadu_si512(fold_512);
  /* The register enters as the first four message bytes XORed with it (as crc32 takes it). */
  const __m512i start = _mm512_castsi128_si512(_mm_cvtsi32_si128((int)c));
  __m512i x3;
  if (n >= 256) {
    __m512i x0 = _mm512_xor_si512(_mm512_loadu_si512(p), start);
    __m512i x1 = _mm512_loadu_si512(p + 64), x2 = _mm512_loadu_si512(p + 128);
    x3 = _mm512_loadu_si512(p + 192);
    for (p += 256, n -= 256; n >= 256; p += 256, n -= 256) {
      x0 = fold(x0, k2048, _mm512_loadu_si512(p));
      x1 = fold(x1, k2048, _mm512_loadu_si512(p + 64));
      x2 = fold(x2, k2048, _mm512_loadu_si512(p + 128));
      x3 = fold(x3, k2048, _mm512_loadu_si512(p + 192));
    }
    x1 = fold(x0, k512, x1);
    x2 = fold(x1, k512, x2);
    x3 = fold(x2, k512, x3);
  } else {
    x3 = _mm512_xor_si512(_mm512_loadu_si512(p), start);
    p += 64;
    n -= 64;
  }
  for (; n >= 64; p += 64, n -= 64) x3 = fold(x3, k512, _mm512_loadu_si512(p));
  const __m512i kl = _mm512_loadu_si512(fold_lanes);
  __m512i y = _mm512_xor_si512(_mm512_clmulepi64_epi128(x3, kl, 0x00), _mm512_clmulepi64_epi128(x3, kl, 0x11));
  __m128i v = _mm_xor_si128(_mm_xor_si128(_mm512_extracti32x4_epi32(y, 0), _mm512_extracti32x4_epi32(y, 1)),
                            _mm_xor_si128(_mm512_extracti32x4_epi32(y, 2), _mm512_extracti32x4_epi32(x3, 3)));
  uint64_t r = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(v));
  r = _mm_crc32_u64(r, (uint64_t)_mm_extract_epi64(v, 1));
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    r = _mm_crc32_u64(r, w);
  }
  return crc_tail_hw((uint32_t)r, p, n);
}

/* Whether the CPU and the kernel let crc_fold run: AVX-512 F and VL, VPCLMULQDQ, and the
 * registers' state saved by the OS (XCR0: SSE, AVX, opmask and both halves of ZMM). */
static int cpu_can_fold(void) {
  unsigned int a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  if (!(b & bit_AVX512F) || !(b & bit_AVX512VL) || !(c & bit_VPCLMULQDQ)) return 0;
  uint32_t xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  return (xcr0_lo & 0xe6) == 0xe6;
}
#endif

/* 0: tables; 1: the crc32 instruction; 2: that, and folding for FOLD_MIN_BYTES and more. */
static int use_hw = 0;

static inline uint32_t crc_update(uint32_t c, const uint8_t *p, size_t n) {
#ifdef HAVE_SSE42_PATH
  if (use_hw == 2 && n >= FOLD_MIN_BYTES) return crc_fold(c, p, n);
  if (use_hw) return crc_hw(c, p, n);
#endif
  return crc_sw(c, p, n);
}

/* The bytes of a Uint8Array (or Buffer) argument; throws and returns NULL if it is not one. */
static const uint8_t *bytes_of(napi_env env, napi_value v, size_t *len, napi_typedarray_type want) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) {
    napi_throw_type_error(env, NULL, "expected a typed array");
    return NULL;
  }
  napi_typedarray_type type;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, len, &data, NULL, NULL) != napi_ok || type != want) {
    napi_throw_type_error(env, NULL, want == napi_uint8_array ? "expected a Uint8Array" : "expected an Int32Array");
    return NULL;
  }
  /* An empty array may have no memory behind it. */
  static const uint8_t none[1] = {0};
  return data != NULL ? (const uint8_t *)data : none;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a number");
    return 0;
  }
  return 1;
}

/* crc32c(data: Uint8Array, start: number, end: number, previous: number): number. The CRC of
 * data[start, end) continuing from `previous`, a finished CRC (0 to start afresh). */
static napi_value js_crc32c(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "crc32c(data, start, end, previous) takes 4 arguments");
    return NULL;
  }
  size_t len;
  const uint8_t *data = bytes_of(env, argv[0], &len, napi_uint8_array);
  if (data == NULL) return NULL;
  uint32_t start, end, previous;
  if (!get_u32(env, argv[1], &start) || !get_u32(env, argv[2], &end) || !get_u32(env, argv[3], &previous)) return NULL;
  if (start > end || end > len) {
    napi_throw_range_error(env, NULL, "crc32c: range outside the array");
    return NULL;
  }
  uint32_t crc = ~crc_update(~previous, data + start, end - start);
  napi_value result;
  napi_create_uint32(env, crc, &result);
  return result;
}

/* Page and header layout the scan below walks (xlog_internal.h, PostgreSQL 15). */
#define XLOG_BLCKSZ 8192
#define SIZE_OF_XLOG_SHORT_PHD 24
#define SIZE_OF_XLOG_LONG_PHD 40
#define XLP_FIRST_IS_CONTRECORD 0x0001
#define XLP_LONG_HEADER 0x0002
#define RM_XLOG_ID 0
#define XLOG_SWITCH 0x40
#define XLR_INFO_MASK 0x0F

static inline uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static inline uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }

/* Whether the record at r (xl_tot_len tot) has the CRC ValidXLogRecord computes: the body after
 * the 24-byte header, then the header up to xl_crc. */
static int record_crc_ok(const uint8_t *r, size_t tot) {
  uint32_t c = crc_update(0xffffffffu, r + SIZE_OF_XLOG_RECORD, tot - SIZE_OF_XLOG_RECORD);
  c = ~crc_update(c, r, XLOG_RECORD_CRC_OFFSET);
  return c == le32(r + XLOG_RECORD_CRC_OFFSET);
}

/* Where the record after one that crosses pages starts, given the page boundary `o` its
 * continuation begins at and the bytes `left` of it; -1 if the data ends first or the page
 * headers do not continue it. */
static int64_t skip_record_across_pages(const uint8_t *data, size_t len, int64_t o, uint32_t left) {
  for (;;) {
    if ((size_t)o + SIZE_OF_XLOG_SHORT_PHD > len) return -1;
    uint32_t info = le16(data + o + 2);
    if ((info & XLP_FIRST_IS_CONTRECORD) == 0 || le32(data + o + 16) != left) return -1;
    uint32_t header = (info & XLP_LONG_HEADER) ? SIZE_OF_XLOG_LONG_PHD : SIZE_OF_XLOG_SHORT_PHD;
    uint32_t piece = left < XLOG_BLCKSZ - header ? left : XLOG_BLCKSZ - header;
    o += header + piece;
    left -= piece;
    if (left == 0) return o + ((8 - piece % 8) % 8);
  }
}

/* How far ahead of the record being checked the scan asks for bytes (two cache lines a record). */
#define PREFETCH_AHEAD 2048

/* RM_MAX_BUILTIN_ID of PostgreSQL 15 (RM_LOGICALMSG_ID): ids above it and below 128 are invalid. */
#define RM_MAX_BUILTIN_ID 21

static inline uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* ValidXLogRecordHeader's checks of the header at r, the record at `lsn`: the resource manager
 * id, and the prev-link (`prev` the record before it, or -1 when unknown: then only below lsn). */
static int record_header_ok(const uint8_t *r, int64_t lsn, int64_t prev) {
  uint8_t rmid = r[17];
  if (rmid > RM_MAX_BUILTIN_ID && rmid < 128) return 0;
  uint64_t xl_prev = le64(r + 8);
  return prev < 0 ? xl_prev < (uint64_t)lsn : xl_prev == (uint64_t)prev;
}

/*
 * scanXLogRecords(data: Uint8Array, from: number, dataLsn: number, prevLsn: number, records: Int32Array): number.
 *
 * Walks the WAL in data from the record at data[from], as far as the records' lengths and the page
 * headers lead (data[0] lies at LSN dataLsn; prevLsn is the record before the first, -1 if not
 * known), and checks each record as ValidXLogRecordHeader and, for one that lies whole on a page,
 * ValidXLogRecord do: its resource manager id, its prev-link, and its CRC; pairs (offset in data,
 * xl_tot_len) of those whole on a page go into records. Stops before the first record that fails a
 * check (not written), at anything unexpected (a length below a record header, a header split
 * across pages, a page that does not continue a record crossing it, a continuation where a record
 * should start), after XLOG_SWITCH, at the end of data and when records is full. Records that cross
 * pages are stepped over once their header is checked: their CRC is computed on their reassembled
 * bytes. Returns how many pairs were written: a guess made without the page header checks, which
 * the decoder trusts only when it reaches a record at that offset with that length.
 */
static napi_value js_scan_xlog_records(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "scanXLogRecords(data, from, dataLsn, prevLsn, records) takes 5 arguments");
    return NULL;
  }
  size_t len, pairs_len;
  const uint8_t *data = bytes_of(env, argv[0], &len, napi_uint8_array);
  if (data == NULL) return NULL;
  uint32_t from;
  int64_t data_lsn, prev;
  if (!get_u32(env, argv[1], &from)) return NULL;
  if (napi_get_value_int64(env, argv[2], &data_lsn) != napi_ok || napi_get_value_int64(env, argv[3], &prev) != napi_ok) {
    napi_throw_type_error(env, NULL, "scanXLogRecords: dataLsn and prevLsn must be numbers");
    return NULL;
  }
  int32_t *pairs = (int32_t *)bytes_of(env, argv[4], &pairs_len, napi_int32_array);
  if (pairs == NULL) return NULL;
  if (from > len || data_lsn < 0 || prev < -1) {
    napi_throw_range_error(env, NULL, "scanXLogRecords: from, dataLsn or prevLsn out of range");
    return NULL;
  }
  uint32_t page_offset = (uint32_t)(data_lsn % XLOG_BLCKSZ);
  size_t max = pairs_len / 2;
  size_t n = 0;
  int64_t o = from;
  while (n < max) {
    uint32_t page_off = (uint32_t)((page_offset + (uint64_t)o) % XLOG_BLCKSZ);
    if (page_off == 0) {
      if ((size_t)o + SIZE_OF_XLOG_SHORT_PHD > len) break;
      uint32_t pinfo = le16(data + o + 2);
      if (pinfo & XLP_FIRST_IS_CONTRECORD) break;
      page_off = (pinfo & XLP_LONG_HEADER) ? SIZE_OF_XLOG_LONG_PHD : SIZE_OF_XLOG_SHORT_PHD;
      o += page_off;
    }
    uint32_t on_page = XLOG_BLCKSZ - page_off;
    if (on_page < SIZE_OF_XLOG_RECORD || (size_t)o + SIZE_OF_XLOG_RECORD > len) break;
    const uint8_t *r = data + o;
    /* The records are read once, from memory rather than cache: ask for the bytes a few records
     * on while this one is checked (measured together with crc_tail_hw: the CRCs of the 700k
     * records of 172 MiB of pgbench WAL that lie whole on a page, 13.5 -> 12.0 ms). A prefetch
     * past the end of data is harmless, it does not fault. */
    __builtin_prefetch(r + PREFETCH_AHEAD);
    __builtin_prefetch(r + PREFETCH_AHEAD + 64);
    uint32_t tot = le32(r);
    int64_t lsn = data_lsn + o;
    if (tot < SIZE_OF_XLOG_RECORD || !record_header_ok(r, lsn, prev)) break;
    prev = lsn;
    if (tot > on_page) {
      o = skip_record_across_pages(data, len, o + on_page, tot - on_page);
      if (o < 0) break;
      continue;
    }
    if ((size_t)o + tot > len) break;
    if (!record_crc_ok(r, tot)) break;
    pairs[2 * n] = (int32_t)o;
    pairs[2 * n + 1] = (int32_t)tot;
    n++;
    if (r[17] == RM_XLOG_ID && (r[16] & ~XLR_INFO_MASK) == XLOG_SWITCH) break;
    o += tot + ((8 - tot % 8) % 8);
  }
  napi_value result;
  napi_create_uint32(env, (uint32_t)n, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  make_sw_tables();
#ifdef HAVE_SSE42_PATH
  unsigned int a, b, c, d;
  /* STRATA_CRC32C_TABLES=1 keeps to the tables even where the instruction exists (tests). */
  const char *tables_only = getenv("STRATA_CRC32C_TABLES");
  if ((tables_only == NULL || strcmp(tables_only, "1") != 0) && __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2)) {
    use_hw = 1;
    make_shift_table(shift_long, LONG_BYTES);
    make_shift_table(shift_short, SHORT_BYTES);
    /* STRATA_CRC32C_FOLD=0 keeps to the crc32 instruction (tests, measurements). */
    const char *fold_env = getenv("STRATA_CRC32C_FOLD");
    if ((fold_env == NULL || strcmp(fold_env, "0") != 0) && cpu_can_fold()) {
      use_hw = 2;
      make_fold_multipliers();
    }
  }
#endif
  napi_value f, hw, method;
  napi_create_function(env, "crc32c", NAPI_AUTO_LENGTH, js_crc32c, NULL, &f);
  napi_set_named_property(env, exports, "crc32c", f);
  napi_create_function(env, "scanXLogRecords", NAPI_AUTO_LENGTH, js_scan_xlog_records, NULL, &f);
  napi_set_named_property(env, exports, "scanXLogRecords", f);
  /* Bumped when a function's arguments change: src/pg/crc32c.ts uses only an addon it knows. */
  napi_value abi;
  napi_create_uint32(env, 2, &abi);
  napi_set_named_property(env, exports, "abi", abi);
  napi_get_boolean(env, use_hw != 0, &hw);
  napi_set_named_property(env, exports, "hardware", hw);
  napi_create_string_utf8(env, use_hw == 2 ? "vpclmulqdq" : use_hw == 1 ? "sse4.2" : "tables", NAPI_AUTO_LENGTH, &method);
  napi_set_named_property(env, exports, "method", method);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
