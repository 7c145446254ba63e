#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DEPTH 64

typedef struct {
  const char *s;
  size_t len, pos;
  char *err;
  size_t errlen;
} parser;

static int fail(parser *p, const char *msg) {
  if (p->err) snprintf(p->err, p->errlen, "%s at byte %zu", msg, p->pos);
  return -1;
}

static void skip_ws(parser *p) {
  while (p->pos < p->len) {
    char c = p->s[p->pos];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
      p->pos++;
    else
      break;
  }
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int read_hex4(parser *p, unsigned *out) {
  if (p->pos + 4 > p->len) return fail(p, "truncated \\u escape");
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(p->s[p->pos + i]);
    if (h < 0) return fail(p, "bad \\u escape");
    v = v * 16 + (unsigned)h;
  }
  p->pos += 4;
  *out = v;
  return 0;
}

static size_t utf8_len_at(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t need;
  unsigned min;
  if ((c & 0xe0) == 0xc0) { need = 2; min = 0x80; c &= 0x1f; }
  else if ((c & 0xf0) == 0xe0) { need = 3; min = 0x800; c &= 0x0f; }
  else if ((c & 0xf8) == 0xf0) { need = 4; min = 0x10000; c &= 0x07; }
  else return 0;
  if (n < need) return 0;
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
  return need;
}

int json_is_valid_utf8(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    size_t l = utf8_len_at(u + i, len - i);
    if (!l) return 0;
    i += l;
  }
  return 1;
}

/* Parses a string at p->pos (which is at '"'). If out is non-NULL, stores the
 * unescaped, NUL-terminated value (malloc'd). */
static int parse_string(parser *p, char **out, size_t *out_len) {
  p->pos++; /* opening quote */
  char *buf = NULL;
  size_t bl = 0, bc = 0;
  if (out) {
    bc = 64;
    buf = malloc(bc);
    if (!buf) return fail(p, "out of memory");
  }
#define PUT(ch)                                        \
  do {                                                 \
    if (buf) {                                         \
      if (bl + 1 >= bc) {                              \
        bc *= 2;                                       \
        char *nb = realloc(buf, bc);                   \
        if (!nb) { free(buf); return fail(p, "out of memory"); } \
        buf = nb;                                      \
      }                                                \
      buf[bl++] = (char)(ch);                          \
    }                                                  \
  } while (0)
  for (;;) {
    if (p->pos >= p->len) { free(buf); return fail(p, "unterminated string"); }
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c == '"') { p->pos++; break; }
    if (c < 0x20) { free(buf); return fail(p, "control character in string"); }
    if (c == '\\') {
      p->pos++;
      if (p->pos >= p->len) { free(buf); return fail(p, "unterminated escape"); }
      char e = p->s[p->pos++];
      switch (e) {
        case '"': PUT('"'); break;
        case '\\': PUT('\\'); break;
        case '/': PUT('/'); break;
        case 'b': PUT('\b'); break;
        case 'f': PUT('\f'); break;
        case 'n': PUT('\n'); break;
        case 'r': PUT('\r'); break;
        case 't': PUT('\t'); break;
        case 'u': {
          unsigned cp;
          if (read_hex4(p, &cp)) { free(buf); return -1; }
          if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned lo;
            if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
              free(buf);
              return fail(p, "unpaired surrogate");
            }
            p->pos += 2;
            if (read_hex4(p, &lo)) { free(buf); return -1; }
            if (lo < 0xdc00 || lo > 0xdfff) { free(buf); return fail(p, "unpaired surrogate"); }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            free(buf);
            return fail(p, "unpaired surrogate");
          }
          if (cp == 0 && out) { free(buf); return fail(p, "NUL character in string"); }
          if (cp < 0x80) PUT(cp);
          else if (cp < 0x800) { PUT(0xc0 | (cp >> 6)); PUT(0x80 | (cp & 0x3f)); }
          else if (cp < 0x10000) { PUT(0xe0 | (cp >> 12)); PUT(0x80 | ((cp >> 6) & 0x3f)); PUT(0x80 | (cp & 0x3f)); }
          else { PUT(0xf0 | (cp >> 18)); PUT(0x80 | ((cp >> 12) & 0x3f)); PUT(0x80 | ((cp >> 6) & 0x3f)); PUT(0x80 | (cp & 0x3f)); }
          break;
        }
        default: free(buf); p->pos--; return fail(p, "bad escape");
      }
      continue;
    }
    if (c >= 0x80) {
      size_t l = utf8_len_at((const unsigned char *)p->s + p->pos, p->len - p->pos);
      if (!l) { free(buf); return fail(p, "invalid UTF-8"); }
      for (size_t i = 0; i < l; i++) PUT(p->s[p->pos + i]);
      p->pos += l;
      continue;
    }
    PUT(c);
    p->pos++;
  }
#undef PUT
  if (buf) {
    buf[bl] = 0;
    *out = buf;
    *out_len = bl;
  }
  return 0;
}

static int parse_number(parser *p) {
  size_t st = p->pos;
  if (p->pos < p->len && p->s[p->pos] == '-') p->pos++;
  if (p->pos >= p->len) return fail(p, "bad number");
  if (p->s[p->pos] == '0') p->pos++;
  else if (p->s[p->pos] >= '1' && p->s[p->pos] <= '9')
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
  else return fail(p, "bad number");
  if (p->pos < p->len && p->s[p->pos] == '.') {
    p->pos++;
    size_t d = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    if (d == p->pos) return fail(p, "bad number");
  }
  if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
    p->pos++;
    if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
    size_t d = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    if (d == p->pos) return fail(p, "bad number");
  }
  return p->pos > st ? 0 : fail(p, "bad number");
}

static int lit(parser *p, const char *w) {
  size_t n = strlen(w);
  if (p->pos + n > p->len || memcmp(p->s + p->pos, w, n) != 0) return fail(p, "unexpected token");
  p->pos += n;
  return 0;
}

static int skip_value(parser *p, int depth);

static int skip_container(parser *p, int depth, char close) {
  if (depth > MAX_DEPTH) return fail(p, "nesting too deep");
  p->pos++;
  skip_ws(p);
  if (p->pos < p->len && p->s[p->pos] == close) { p->pos++; return 0; }
  for (;;) {
    skip_ws(p);
    if (close == '}') {
      if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "expected key");
      if (parse_string(p, NULL, NULL)) return -1;
      skip_ws(p);
      if (p->pos >= p->len || p->s[p->pos] != ':') return fail(p, "expected ':'");
      p->pos++;
    }
    if (skip_value(p, depth + 1)) return -1;
    skip_ws(p);
    if (p->pos >= p->len) return fail(p, "unterminated container");
    if (p->s[p->pos] == ',') { p->pos++; continue; }
    if (p->s[p->pos] == close) { p->pos++; return 0; }
    return fail(p, "expected ',' or close");
  }
}

static int skip_value(parser *p, int depth) {
  skip_ws(p);
  if (p->pos >= p->len) return fail(p, "expected value");
  char c = p->s[p->pos];
  if (c == '"') return parse_string(p, NULL, NULL);
  if (c == '{') return skip_container(p, depth, '}');
  if (c == '[') return skip_container(p, depth, ']');
  if (c == 't') return lit(p, "true");
  if (c == 'f') return lit(p, "false");
  if (c == 'n') return lit(p, "null");
  return parse_number(p);
}

int json_validate_value(const char *s, size_t len, char *err, size_t errlen) {
  parser p = {s, len, 0, err, errlen};
  if (!json_is_valid_utf8(s, len)) {
    if (err) snprintf(err, errlen, "invalid UTF-8");
    return -1;
  }
  if (skip_value(&p, 0)) return -1;
  skip_ws(&p);
  if (p.pos != p.len) return fail(&p, "trailing characters");
  return 0;
}

static char *dupn(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

int json_parse_object(const char *s, size_t len, jobj *o, char *err, size_t errlen) {
  parser p = {s, len, 0, err, errlen};
  memset(o, 0, sizeof(*o));
  skip_ws(&p);
  if (p.pos >= p.len || s[p.pos] != '{') return fail(&p, "expected a JSON object");
  p.pos++;
  skip_ws(&p);
  if (p.pos < p.len && s[p.pos] == '}') {
    p.pos++;
    goto done;
  }
  for (;;) {
    skip_ws(&p);
    if (p.pos >= p.len || s[p.pos] != '"') { jobj_free(o); return fail(&p, "expected key"); }
    char *key;
    size_t kl;
    if (parse_string(&p, &key, &kl)) { jobj_free(o); return -1; }
    if (jobj_get(o, key)) { free(key); jobj_free(o); return fail(&p, "duplicate key"); }
    if (o->n >= JOBJ_MAX_FIELDS) { free(key); jobj_free(o); return fail(&p, "too many keys"); }
    jfield *f = &o->f[o->n++];
    f->key = key;
    skip_ws(&p);
    if (p.pos >= p.len || s[p.pos] != ':') { jobj_free(o); return fail(&p, "expected ':'"); }
    p.pos++;
    skip_ws(&p);
    if (p.pos >= p.len) { jobj_free(o); return fail(&p, "expected value"); }
    size_t st = p.pos;
    char c = s[p.pos];
    int r;
    if (c == '"') {
      f->type = JV_STR;
      r = parse_string(&p, &f->val, &f->val_len);
    } else if (c == '{' || c == '[') {
      f->type = c == '{' ? JV_OBJ : JV_ARR;
      r = skip_value(&p, 1);
      if (!r) {
        f->val = dupn(s + st, p.pos - st);
        f->val_len = p.pos - st;
        if (!f->val) r = fail(&p, "out of memory");
      }
    } else if (c == 't' || c == 'f') {
      f->type = JV_BOOL;
      f->boolean = c == 't';
      r = lit(&p, c == 't' ? "true" : "false");
    } else if (c == 'n') {
      f->type = JV_NULL;
      r = lit(&p, "null");
    } else {
      f->type = JV_NUM;
      r = parse_number(&p);
      if (!r) {
        f->val = dupn(s + st, p.pos - st);
        f->val_len = p.pos - st;
        if (!f->val) r = fail(&p, "out of memory");
      }
    }
    if (r) { jobj_free(o); return -1; }
    f->raw = s + st;
    f->raw_len = p.pos - st;
    skip_ws(&p);
    if (p.pos >= p.len) { jobj_free(o); return fail(&p, "unterminated object"); }
    if (s[p.pos] == ',') { p.pos++; continue; }
    if (s[p.pos] == '}') { p.pos++; break; }
    jobj_free(o);
    return fail(&p, "expected ',' or '}'");
  }
done:
  skip_ws(&p);
  if (p.pos != p.len) { jobj_free(o); return fail(&p, "trailing characters after object"); }
  return 0;
}

void jobj_free(jobj *o) {
  for (int i = 0; i < o->n; i++) {
    free(o->f[i].key);
    free(o->f[i].val);
  }
  o->n = 0;
}

const jfield *jobj_get(const jobj *o, const char *key) {
  for (int i = 0; i < o->n; i++)
    if (strcmp(o->f[i].key, key) == 0) return &o->f[i];
  return NULL;
}

/* ---- writer ---- */

static void put(jw *w, const char *s, size_t n) {
  if (w->len + n + 2 > w->cap) {
    size_t nc = w->cap ? w->cap : 256;
    while (w->len + n + 2 > nc) nc *= 2;
    char *nb = realloc(w->buf, nc);
    if (!nb) abort();
    w->buf = nb;
    w->cap = nc;
  }
  memcpy(w->buf + w->len, s, n);
  w->len += n;
}

static void putc1(jw *w, char c) { put(w, &c, 1); }

static void put_escaped(jw *w, const char *s, size_t n) {
  putc1(w, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
      case '"': put(w, "\\\"", 2); break;
      case '\\': put(w, "\\\\", 2); break;
      case '\n': put(w, "\\n", 2); break;
      case '\r': put(w, "\\r", 2); break;
      case '\t': put(w, "\\t", 2); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char b[8];
          snprintf(b, sizeof b, "\\u%04x", c);
          put(w, b, 6);
        } else if (c >= 0x80) {
          size_t l = utf8_len_at((const unsigned char *)s + i, n - i);
          if (!l) {
            put(w, "\\ufffd", 6); /* never emit invalid UTF-8 */
          } else {
            put(w, s + i, l);
            i += l - 1;
          }
        } else {
          putc1(w, (char)c);
        }
    }
  }
  putc1(w, '"');
}

void jw_begin(jw *w) {
  memset(w, 0, sizeof(*w));
  putc1(w, '{');
}

void jw_key(jw *w, const char *k) {
  if (w->need_comma) putc1(w, ',');
  w->need_comma = 1;
  if (k) {
    put_escaped(w, k, strlen(k));
    putc1(w, ':');
  }
}

void jw_str(jw *w, const char *k, const char *v) { jw_strn(w, k, v, strlen(v)); }
void jw_strn(jw *w, const char *k, const char *v, size_t n) {
  jw_key(w, k);
  put_escaped(w, v, n);
}
void jw_u64(jw *w, const char *k, uint64_t v) {
  char b[32];
  int n = snprintf(b, sizeof b, "%" PRIu64, v);
  jw_key(w, k);
  put(w, b, (size_t)n);
}
void jw_i64(jw *w, const char *k, int64_t v) {
  char b[32];
  int n = snprintf(b, sizeof b, "%" PRId64, v);
  jw_key(w, k);
  put(w, b, (size_t)n);
}
void jw_dbl(jw *w, const char *k, double v) {
  char b[64];
  int n = snprintf(b, sizeof b, "%.1f", v);
  jw_key(w, k);
  put(w, b, (size_t)n);
}
void jw_bool(jw *w, const char *k, int v) {
  jw_key(w, k);
  if (v) put(w, "true", 4);
  else put(w, "false", 5);
}
void jw_null(jw *w, const char *k) {
  jw_key(w, k);
  put(w, "null", 4);
}
void jw_rawval(jw *w, const char *k, const char *raw, size_t n) {
  jw_key(w, k);
  put(w, raw, n);
}
void jw_arr_begin(jw *w, const char *k) {
  jw_key(w, k);
  putc1(w, '[');
  w->need_comma = 0;
}
void jw_arr_str(jw *w, const char *v) {
  if (w->need_comma) putc1(w, ',');
  w->need_comma = 1;
  put_escaped(w, v, strlen(v));
}
void jw_arr_end(jw *w) {
  putc1(w, ']');
  w->need_comma = 1;
}

int jw_emit(jw *w, int fd) {
  put(w, "}\n", 2);
  size_t off = 0;
  int rc = 0;
  while (off < w->len) {
    ssize_t n = write(fd, w->buf + off, w->len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      rc = -errno;
      break;
    }
    off += (size_t)n;
  }
  jw_free(w);
  return rc;
}

void jw_free(jw *w) {
  free(w->buf);
  w->buf = NULL;
  w->len = w->cap = 0;
}
