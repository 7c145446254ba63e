/*
 * Ops used only by the tests and benchmarks, compiled into the test build of the engine
 * (build/vfio-mig-engine-test, -DVME_TESTOPS) and never into the shipped binary. Included by
 * main.c, whose helpers they use: this file is not a translation unit of its own.
 */

/* Testing aid: use a file or an inherited descriptor as the data_fd. */
static int op_attach_data(const req *r, const jobj *o) {
  static const char *const keys[] = {"path", "fd", "mode", NULL};
  if (check_keys(r, o, keys)) return -1;
  const char *mode = NULL;
  if (arg_str(r, o, "mode", &mode) < 0) return -1;
  if (!mode || (strcmp(mode, "read") && strcmp(mode, "write")))
    FAIL(r, EINVAL, "BAD_REQUEST", "argument 'mode' must be \"read\" (save from it) or \"write\" (load into it)");
  int fd = -1, owned = 0;
  int rc = arg_endpoint(r, o, "path", "fd", mode[0] == 'w', 0, &fd, &owned);
  if (rc < 0) return -1;
  if (rc == 0) FAIL(r, EINVAL, "BAD_REQUEST", "give 'path' or 'fd'");
  close_data();
  D.data_fd = fd;
  D.data_debug = 1;
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  jw w;
  begin(&w, r, 1);
  jw_bool(&w, "data_session", 1);
  emit(&w);
  return 0;
}

static int op_pack(const req *r, const jobj *o) {
  static const char *const keys[] = {"in_path", "in_fd", "out_path", "out_fd", "header", "raw",
                                     "chunk_size", "estimate", "progress", "exclusive", "fsync", NULL};
  if (check_keys(r, o, keys)) return -1;
  int raw = 0, prog = 1, excl = 0, fs = 0;
  uint32_t chunk;
  uint64_t est = 0;
  const char *h = NULL, *outp = NULL;
  size_t hl = 0;
  if (arg_bool(r, o, "raw", &raw) < 0 || arg_bool(r, o, "progress", &prog) < 0 ||
      arg_bool(r, o, "exclusive", &excl) < 0 || arg_bool(r, o, "fsync", &fs) < 0 ||
      arg_chunk(r, o, &chunk) || arg_u64(r, o, "estimate", &est) < 0 || arg_str(r, o, "out_path", &outp) < 0)
    return -1;
  int hr = arg_header(r, o, &h, &hl);
  if (hr < 0) return -1;
  if (!raw && !hr) FAIL(r, EINVAL, "BAD_REQUEST", "argument 'header' is required");
  int in, in_owned, out, out_owned;
  int rc = arg_endpoint(r, o, "in_path", "in_fd", 0, 0, &in, &in_owned);
  if (rc <= 0) {
    if (rc == 0) FAIL(r, EINVAL, "BAD_REQUEST", "give 'in_path' or 'in_fd'");
    return -1;
  }
  rc = arg_endpoint(r, o, "out_path", "out_fd", 1, excl, &out, &out_owned);
  if (rc <= 0) {
    close(in);
    if (rc == 0) FAIL(r, EINVAL, "BAD_REQUEST", "give 'out_path' or 'out_fd'");
    return -1;
  }
  if (!est) {
    struct stat st;
    if (fstat(in, &st) == 0 && S_ISREG(st.st_mode)) est = (uint64_t)st.st_size;
  }
  stream_out so = {.fd = out, .owned = out_owned, .raw = raw, .chunk_size = chunk};
  progress_ctx pc = {r, est};
  dp_progress pr = {prog ? on_progress : NULL, &pc};
  dp_result res;
  dp_error e = {0};
  double t0 = mono();
  rc = sout_begin(&so, h, hl, &e);
  if (!rc) rc = sout_transfer(&so, in, SRC_UNTIL_EOF, 1, 0, &pr, &res, &e);
  if (!rc) rc = sout_end(&so, &e);
  close(in);
  if (!rc) rc = finish_output(out, 1, fs, &e);
  else drop_output(out, out_owned, outp);
  if (rc) return fail_dp(r, &e);
  double dt = mono() - t0;
  jw w;
  begin(&w, r, 1);
  jw_u64(&w, "payload_bytes", so.payload);
  jw_u64(&w, "chunks", so.chunks);
  jw_u64(&w, "stream_bytes", so.offset);
  jw_u64(&w, "elapsed_ms", (uint64_t)(dt * 1000));
  jw_str(&w, "crc32c", crc32c_impl());
  emit(&w);
  return 0;
}

/* Testing aid: vme_region_type over a region-info buffer given in hex, as the kernel fills it. */
static int op_region_caps(const req *r, const jobj *o) {
  static const char *const keys[] = {"hex", NULL};
  if (check_keys(r, o, keys)) return -1;
  const char *hex = NULL;
  if (arg_str(r, o, "hex", &hex) <= 0) FAIL(r, EINVAL, "BAD_REQUEST", "argument 'hex' is required");
  size_t n = strlen(hex) / 2;
  unsigned char *buf = calloc(1, n + 1);
  if (!buf) FAIL(r, ENOMEM, NULL, "out of memory");
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
      free(buf);
      FAIL(r, EINVAL, "BAD_REQUEST", "'hex' is not hexadecimal");
    }
    buf[i] = (unsigned char)v;
  }
  uint32_t type = 0, sub = 0;
  int rc = vme_region_type(buf, n, &type, &sub);
  free(buf);
  jw w;
  begin(&w, r, 1);
  jw_i64(&w, "result", rc);
  if (rc == 1) {
    jw_u64(&w, "type", type);
    jw_u64(&w, "subtype", sub);
    jw_bool(&w, "migration_v1", type == VME_REGION_TYPE_MIGRATION_DEPRECATED && sub == VME_REGION_SUBTYPE_MIGRATION_DEPRECATED);
  }
  emit(&w);
  return 0;
}
