/* Stream format and the threaded data path. See docs/stream-format.md. */
#ifndef VME_STREAM_H
#define VME_STREAM_H
#include <stddef.h>
#include <stdint.h>

#define SF_MAGIC "VFIOMIGS"
#define SF_VERSION 1u
#define SF_PREAMBLE_LEN 24u
#define SF_REC_HDR_LEN 16u
#define SF_TRAILER_PAYLOAD_LEN 16u
#define SF_TAG_CHUNK 0x4b4e4843u   /* "CHNK" little-endian */
#define SF_TAG_TRAILER 0x524c5254u /* "TRLR" little-endian */
#define SF_MAX_HEADER (1u << 20)
#define SF_MAX_CHUNK (16u << 20)
#define SF_DEFAULT_CHUNK (1u << 20)
#define DP_SLOTS 4

enum err_kind { EK_NONE = 0, EK_ERRNO, EK_CORRUPT, EK_VERSION, EK_CANCELLED };

typedef struct {
  enum err_kind kind;
  int err;          /* errno */
  uint64_t offset;  /* EK_CORRUPT: stream offset */
  char msg[320];
} dp_error;

/* Output stream (save / pack). */
typedef struct {
  int fd;
  int owned;         /* close at the end */
  int raw;
  int is_fifo;
  uint32_t chunk_size;
  uint64_t offset;   /* stream bytes written */
  uint64_t payload;  /* payload bytes written */
  uint64_t chunks;
} stream_out;

/* Input stream (load / unpack / verify). */
typedef struct {
  int fd;
  int owned;
  int raw;
  uint32_t version;
  char *header;      /* JSON text, NUL-terminated */
  size_t header_len;
  uint64_t offset;   /* stream bytes consumed */
  uint64_t payload;
  uint64_t chunks;
  int done;          /* trailer seen */
  uint64_t file_size; /* 0 if unknown */
} stream_in;

enum src_mode { SRC_UNTIL_EOF = 0, SRC_UNTIL_EMPTY = 1 };

typedef struct {
  uint64_t bytes;    /* payload bytes moved by this call */
  uint64_t chunks;   /* chunks moved by this call */
  int source_ended;  /* raw source: EOF (until_eof) / empty for now (until_empty) */
} dp_result;

/* Progress callback, called from the calling thread at most every interval. */
typedef void (*dp_progress_fn)(void *ctx, uint64_t bytes, uint64_t stream_bytes, double elapsed_s);

typedef struct {
  dp_progress_fn fn;
  void *ctx;
} dp_progress;

void dp_init(void);
/* Polled at every wait of a transfer (at least every 200 ms): nonzero ends the transfer with
 * EK_CANCELLED. The engine points it at "a request arrived / the caller is gone". */
extern int (*dp_cancel_check)(void);
void dp_set_error(dp_error *e, enum err_kind k, int err, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Write the preamble and header. */
int sout_begin(stream_out *so, const char *header, size_t header_len, dp_error *e);
/* Move raw bytes from src_fd to the stream (framed or raw). */
/* src_is_file: the source is a user file (may be mapped); 0 for a device data_fd.
 * max_bytes: read at most this many bytes from src_fd (0: no limit). */
int sout_transfer(stream_out *so, int src_fd, enum src_mode mode, int src_is_file, uint64_t max_bytes,
                  dp_progress *pr, dp_result *res, dp_error *e);
int sout_end(stream_out *so, dp_error *e);

/* Read and check the preamble and header. */
int sin_begin(stream_in *si, dp_error *e);
/* Move the payload to dst_fd (or discard when dst_fd < 0), verifying every chunk before
 * it is written. check_eof: require end of input right after the trailer. */
int sin_transfer(stream_in *si, int dst_fd, int check_eof, dp_progress *pr, dp_result *res,
                 dp_error *e);

int fd_is_fifo(int fd);
void fd_grow_pipe(int fd);
#endif
