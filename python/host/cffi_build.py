"""Writes the C source of anvil._cffi_host, the cffi binding (API mode) of
anvil/host.h: `cffi_build.py HEADER OUT.c`. CMake compiles OUT.c for the
interpreter it builds _core for, and links it with libanvil_host.so.

The declarations are the header's own, between its "cffi: begin" and
"cffi: end" lines, so that the binding cannot drift from the header. The
callbacks are `extern "Python"` functions (anvil/_cffiwsgi.py defines them with
@ffi.def_extern), whose addresses go into anvil_callbacks.
"""

import sys

import cffi

CALLBACKS = """
extern "Python" int anvil_py_worker_start(void* user, char* err, size_t err_size);
extern "Python" void anvil_py_worker_stop(void* user);
extern "Python" void anvil_py_request(void* user, anvil_request* req, const char* head,
                                      size_t head_len, const uint32_t* starts, size_t parts,
                                      const char* body, size_t body_len, int flags);
extern "Python" void anvil_py_resume(void* user, anvil_request* req, int error);
extern "Python" int anvil_py_fork(void* user);
"""


def declarations(header_text):
    begin = header_text.index("cffi: begin")
    begin = header_text.index("\n", begin) + 1
    end = header_text.index("/* cffi: end */")
    return header_text[begin:end]


def main(header, out):
    with open(header, encoding="utf-8") as f:
        decls = declarations(f.read())
    ffi = cffi.FFI()
    ffi.cdef(decls + CALLBACKS)
    ffi.set_source("anvil._cffi_host", '#include "anvil/host.h"')
    ffi.emit_c_code(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: cffi_build.py HEADER OUT.c")
    main(sys.argv[1], sys.argv[2])
