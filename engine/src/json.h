/* Minimal JSON: a parser for one flat request object per line, and a line writer. */
#ifndef VME_JSON_H
#define VME_JSON_H
#include <stddef.h>
#include <stdint.h>

enum jtype { JV_STR = 1, JV_NUM, JV_BOOL, JV_NULL, JV_OBJ, JV_ARR };

typedef struct {
  char *key;
  enum jtype type;
  char *val;        /* JV_STR: unescaped (NUL-terminated, may contain no NUL);
                       JV_NUM: number text; JV_OBJ/JV_ARR: the raw JSON text, verbatim */
  size_t val_len;
  int boolean;
  const char *raw;  /* span of the value in the input line (valid while the line lives) */
  size_t raw_len;
} jfield;

#define JOBJ_MAX_FIELDS 64
typedef struct {
  jfield f[JOBJ_MAX_FIELDS];
  int n;
} jobj;

/* Returns 0 on success; on failure -1 with a message in err (and the byte offset). */
int json_parse_object(const char *s, size_t len, jobj *out, char *err, size_t errlen);
void jobj_free(jobj *o);
const jfield *jobj_get(const jobj *o, const char *key);
int json_is_valid_utf8(const char *s, size_t len);
/* Validate that s[0..len) is exactly one JSON value of any kind (used for headers). */
int json_validate_value(const char *s, size_t len, char *err, size_t errlen);

typedef struct {
  char *buf;
  size_t len, cap;
  int need_comma;
} jw;

void jw_begin(jw *w);
void jw_key(jw *w, const char *k);
void jw_str(jw *w, const char *k, const char *v);
void jw_strn(jw *w, const char *k, const char *v, size_t n);
void jw_u64(jw *w, const char *k, uint64_t v);
void jw_i64(jw *w, const char *k, int64_t v);
void jw_dbl(jw *w, const char *k, double v);
void jw_bool(jw *w, const char *k, int v);
void jw_null(jw *w, const char *k);
void jw_rawval(jw *w, const char *k, const char *raw, size_t n);
void jw_arr_begin(jw *w, const char *k);
void jw_arr_str(jw *w, const char *v);
void jw_arr_end(jw *w);
/* Closes the object, writes it as one line to fd, frees the buffer. Returns 0 or -errno. */
int jw_emit(jw *w, int fd);
void jw_free(jw *w);
#endif
