/* anvil/host.h: a plain C ABI for hosting a WSGI-style app on anvil's core
 * (libanvil_host.so). The `anvil` package binds it with cffi (PyPy's default
 * WSGI path, anvil/_cffiwsgi.py), so that a request crosses into Python in
 * one callback, without cpyext.
 *
 * Contract:
 *  - anvil_serve() runs the whole process model (bind, fork workers, signals)
 *    and returns the exit code. Each worker calls worker_start once (after
 *    fork), then request once per request, then worker_stop. With threads ==
 *    1 request runs on the worker's loop thread; with threads > 1 on one of
 *    `threads` threads made by the core (never the loop thread).
 *  - request gets the head packed as _pywsgi.make_dispatcher documents it
 *    ("method\ntarget\npath\nquery\nminor\ncontent_length\nserver_name\n
 *    server_port\nremote_addr\nremote_port\nscheme\nhost" then "\nname\nvalue"
 *    per field, latin-1), already split: for i < parts, part i is the bytes
 *    from head + starts[i] up to (not with) its '\n' at head + starts[i + 1]
 *    - 1; starts[parts] is head_len + 1. When ANVIL_BODY_BUFFERED is set,
 *    body is the whole body (else read it with anvil_read_body). The pointers
 *    are valid only during the callback. The callee owns one reference to req
 *    and gives it back with anvil_release() (later is fine); no call on req
 *    after that.
 *  - The response: anvil_start (repeatable until the first write), then
 *    anvil_write / anvil_send_file, then anvil_finish (or ANVIL_LAST), or
 *    anvil_abort at any time; anvil_respond does start + whole body + finish.
 *    On the loop thread nothing waits: bytes are copied and queued, and with
 *    ANVIL_NOTIFY the call returns ANVIL_PENDING and resume(req, error) runs
 *    later, on the loop thread, once the write is done. On another thread
 *    a write waits for its completion and the bytes are not copied.
 *  - Every callback is a plain C function pointer; nothing may unwind out of it.
 */
#ifndef ANVIL_HOST_H
#define ANVIL_HOST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ANVIL_HOST_BUILD)
#pragma GCC visibility push(default)
#endif

/* cffi: begin (python/host/cffi_build.py reads the declarations up to "cffi: end") */

typedef struct anvil_config anvil_config;
typedef struct anvil_request anvil_request;

enum {
  ANVIL_BODY_BUFFERED = 1, /* request flags: body/body_len is the whole body */
  ANVIL_STATS = 2,         /* --stats: report the environ time with anvil_stat */
  ANVIL_LAST = 1,          /* write flags: this write ends the response */
  ANVIL_NOTIFY = 2,        /* on the loop thread: call resume when the write is done */
  ANVIL_PENDING = 1,       /* returned by a write queued with ANVIL_NOTIFY */
  ANVIL_EFINISHED = -1000  /* the response has already finished (or was aborted) */
};

typedef struct anvil_callbacks {
  void* user;
  /* In each worker after fork: 0, or nonzero for a boot failure, with the
   * reason written to err (NUL-terminated, at most err_size bytes). */
  int (*worker_start)(void* user, char* err, size_t err_size);
  /* In each worker when it stops, after the last request. */
  void (*worker_stop)(void* user);
  void (*request)(void* user, anvil_request* req, const char* head, size_t head_len,
                  const uint32_t* starts, size_t parts, const char* body, size_t body_len,
                  int flags);
  /* A write or send_file made with ANVIL_NOTIFY completed: error 0, or an errno. */
  void (*resume)(void* user, anvil_request* req, int error);
  /* Forks the process, as fork(2) returns (the interpreter's own os.fork, so
   * that it runs its fork hooks); NULL: fork(2). */
  int (*fork)(void* user);
} anvil_callbacks;

/* The server's options by name or flag, as option_table() lists them
 * ("max_body_size" or "--max-body-size"), validated as the CLI does. */
anvil_config* anvil_config_new(void);
void anvil_config_free(anvil_config* config);
/* 0, or -1 with the message ("--workers: not a number: x") in err. */
int anvil_config_set(anvil_config* config, const char* name, const char* value, char* err,
                     size_t err_size);
/* systemd socket activation: the LISTEN_FDS sockets become binds and the
 * LISTEN_* variables are unset. 0, or an errno with the message in err. */
int anvil_config_take_systemd(anvil_config* config, char* err, size_t err_size);

/* Serves until stopped; the exit code (>= 0), or -1 with the message in err
 * and the errno in *error (a bind that failed, a log that cannot be opened). */
int anvil_serve(const anvil_config* config, const anvil_callbacks* callbacks, char* err,
                size_t err_size, int* error);

/* The packed response head, "status\nname\nvalue..." (no part holds a line
 * break). 0, or the reason it was refused (anvil_start_error_text). */
int anvil_start(anvil_request* req, const char* head, size_t head_len);
const char* anvil_start_error_text(int code);
/* 0 (written, or queued), ANVIL_PENDING, ANVIL_EFINISHED, or -errno when the
 * connection failed (the exchange is then over). */
int anvil_write(anvil_request* req, const char* data, size_t len, int flags);
/* The whole response in one write, packed as head, NUL, body (the common
 * case of a list app): start + write + finish. 0 or a start error code. */
int anvil_respond(anvil_request* req, const char* packed, size_t len);
/* count bytes of fd from offset with sendfile(2), ending the response; fd
 * must stay open until the call returns (another thread) or resume runs
 * (ANVIL_NOTIFY). Returns as anvil_write. */
int anvil_send_file(anvil_request* req, int fd, uint64_t offset, uint64_t count, int flags);
void anvil_finish(anvil_request* req);
void anvil_abort(anvil_request* req);
/* Up to len body bytes into dst: the count, 0 at the end of the body (and
 * once the response has finished), or a negative value when the body cannot be read (-1 timeout, -2
 * closed, -3 bad body, -4 the server is shutting down, -5 no room to spool it). Only a body still
 * to come (Expect: 100-continue) waits for the client. */
long long anvil_read_body(anvil_request* req, char* dst, size_t len);
/* What the app is told for anvil_read_body's negative value. */
const char* anvil_body_error_text(long long code);
/* --stats: the nanoseconds of the callback that built environ. */
void anvil_stat(anvil_request* req, int64_t environ_ns);
/* Gives back the callee's reference; a response never finished is aborted. */
void anvil_release(anvil_request* req);

/* cffi: end */

#if defined(ANVIL_HOST_BUILD)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* ANVIL_HOST_H */
