// anvil::server configuration, the in-process Server, and the gunicorn-like
// process model (serve()).
//
// Contract:
//  * ServerConfig holds every option of `anvil-native` / `python3 -m anvil`;
//    option_table() lists them (flag, metavar, help) so the Python CLI can
//    mirror them, and set_option() applies one by name ("max_body_size" or
//    "--max-body-size") with the same validation as the C++ CLI. `--bind
//    fd://N` is checked there to be an open, listening stream socket.
//  * Server binds in its constructor (throws std::system_error) and serves on
//    the thread that calls run(); stop() is thread-safe. No process-global
//    state: several Servers may live in one process.
//  * serve() is the process model: bind, print the "listening on" lines,
//    fork workers, supervise them, handle signals; it returns the exit code.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "anvil/parser/parser.hpp"
#include "anvil/server/handler.hpp"
#include "anvil/server/trusted_peers.hpp"

namespace anvil::server {

// One `--bind`: "HOST:PORT", "[V6]:PORT", ":PORT" (0.0.0.0), "PORT", "unix:PATH",
// or "fd://N", a listening socket inherited from the parent process.
struct Bind {
  // fd: inherited, family not known yet; once adopted it is tcp or unix_socket
  // with the socket's own address, and `fd` stays set.
  enum class Kind : std::uint8_t { tcp, unix_socket, fd };
  Kind kind = Kind::tcp;
  std::string host = "127.0.0.1";  // literal address (no name lookup) for tcp
  std::uint16_t port = 8000;       // 0: the kernel picks one
  std::string path;                // unix_socket ("@name": abstract)
  int fd = -1;                     // >= 0: inherited; anvil did not bind it, never unlinks it
  std::string to_string() const;   // "127.0.0.1:8000", "[::1]:0", "unix:/tmp/s", "fd://3"
};
std::optional<Bind> parse_bind(std::string_view text);

// Why fd cannot serve as a listener ("fd 5 is not a socket"), or nullopt
// when it is an open, listening stream socket (TCP or unix).
std::optional<std::string> check_listening_socket(int fd);

// systemd socket activation (sd_listen_fds(3)): when LISTEN_PID is this
// process, the LISTEN_FDS sockets from fd 3 on, as Kind::fd binds. Unsets
// LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES in every case, so that children do
// not see them. Throws std::system_error when they are set but unusable.
// serve() calls it; an embedder that mirrors the environment (Python's
// os.environ) may call it first and put the binds into ServerConfig::binds.
std::vector<Bind> take_systemd_listeners();

enum class LogLevel : std::uint8_t { debug, info, warning, error, critical };
std::optional<LogLevel> log_level_from_name(std::string_view name) noexcept;
std::string_view name_of(LogLevel level) noexcept;

using Seconds = std::chrono::duration<double>;

struct ServerConfig {
  std::vector<Bind> binds;  // empty: 127.0.0.1:8000
  // Worker processes forked by the master; 0 serves in the calling process
  // with no master (debugging, embedding).
  int workers = 1;
  // Python threads per worker (WSGI side only; the core is thread-safe).
  int threads = 1;
  parser::ParserKind parser = parser::ParserKind::fast;
  int backlog = 2048;
  // Idle time allowed between requests on a keep-alive connection (0: no
  // keep-alive at all).
  Seconds keepalive{2.0};
  // --timeout: the time allowed for a whole request head (slowloris), for
  // each wait for body bytes, and for each wait for the socket to take
  // response bytes. Ends with 408 when a request was started.
  Seconds header_timeout{30.0};
  Seconds body_timeout{30.0};
  Seconds write_timeout{30.0};
  // --graceful-timeout: on SIGTERM/SIGINT, requests in flight may run this long.
  Seconds graceful_timeout{30.0};
  // --limit-request-line / -fields / -field-size / --max-body-size.
  parser::Limits limits = default_limits();
  // --body-buffer-size: a body up to this size is held in memory; a larger
  // one goes to an unlinked temporary file in spool_dir (server/README.md).
  std::size_t body_buffer_size = 64 * 1024;
  // --spool-dir: "" is $TMPDIR, else /var/tmp.
  std::string spool_dir;
  // --max-spool-size: bytes of bodies one worker keeps in spool files at
  // once; a body that would pass it is answered 503.
  std::uint64_t max_spool_size = 1ull << 30;
  // Open connections per worker; 0: RLIMIT_NOFILE less 256, at most 10000.
  // At the limit the cheapest connection is shed (idle ones, then the
  // slowest heads); accepting never stops.
  int max_connections = 0;
  // Requests read ahead on one connection while an earlier response is still
  // being produced; their responses are written in order, batched.
  int max_pipeline = 16;
  std::string access_log;  // "" off, "-" stdout, else a file
  // gunicorn's access_log_format atoms (%(h)s ...); "" is Apache combined.
  std::string access_log_format;
  // Where the server's own log lines and everything else written to stderr
  // go: "" or "-" stderr, else a file (appended).
  std::string error_log;
  LogLevel log_level = LogLevel::info;
  // --worker-timeout (gunicorn's --timeout): the master kills (SIGKILL) and
  // replaces a worker whose event loop has not run for this long, such as an
  // app spinning with the GIL held. 0: off. Needs workers > 0.
  Seconds worker_timeout{30.0};
  // --max-requests N (+ a random 0..jitter drawn per worker): a worker that has
  // served that many requests is replaced gracefully. 0: never. Needs workers > 0.
  std::uint64_t max_requests = 0;
  std::uint64_t max_requests_jitter = 0;
  bool stats = false;  // print per-stage mean time per request on exit
  // WSGI: --root-path (SCRIPT_NAME), the prefix an app is mounted under: ""
  // or "/a/b" (no trailing slash).
  std::string root_path;
  // WSGI: --forwarded-allow-ips, the proxies whose X-Forwarded-For,
  // X-Forwarded-Proto and Forwarded fields set REMOTE_ADDR and wsgi.url_scheme.
  TrustedPeers forwarded_allow_ips;

  static parser::Limits default_limits() {
    parser::Limits l;
    // 100 MiB: a body past --body-buffer-size is spooled to disk, so this
    // bounds one request's disk use; the worker's is --max-spool-size.
    l.body = 100ull << 20;
    return l;
  }
};

// One row of the option table (`--flag METAVAR  help`).
struct OptionSpec {
  std::string_view name;     // "max_body_size": the Python keyword
  std::string_view flag;     // "--max-body-size"
  std::string_view metavar;  // "BYTES"; "" for a switch
  std::string_view help;
  bool repeatable = false;  // --bind
};
std::span<const OptionSpec> option_table();

// Applies one option by name or flag; a switch takes "1"/"true"/"0"/"false".
// Returns an error message ("--workers: not a number: x") or nullopt.
std::optional<std::string> set_option(ServerConfig& config, std::string_view name,
                                      std::string_view value);

struct ParsedArgs {
  ServerConfig config;
  std::vector<std::string> positional;
  // Options from `extra` (e.g. --native), as (name, value) in order.
  std::vector<std::pair<std::string, std::string>> extra;
  bool help = false;
  std::string error;  // non-empty: print it, exit 2
};
// argv[0] excluded. Accepts "--flag value" and "--flag=value", and the
// caller's own `extra` options (collected into ParsedArgs::extra).
ParsedArgs parse_args(std::span<const std::string_view> args,
                      std::span<const OptionSpec> extra = {});
std::string usage(std::string_view program, std::string_view positional_help,
                  std::span<const OptionSpec> extra = {});

// Summed stage times (nanoseconds) and requests, for --stats.
struct StatsSnapshot {
  std::uint64_t requests = 0;
  std::uint64_t stage_ns[kStageCount] = {};
  std::string format() const;  // "requests N; read X us, parse ..." (means)
};

// Where a listener ended up (real port when 0 was asked).
struct BoundAddress {
  Bind bind;
  std::string url() const;  // "http://127.0.0.1:8000", "http://[::1]:8000", "unix:/p"
};

class Server {
 public:
  // Binds every config.binds (default 127.0.0.1:8000).
  Server(const ServerConfig& config, std::shared_ptr<Handler> handler);
  // Adopts already-bound, listening sockets (the master's), one per bind.
  Server(const ServerConfig& config, std::shared_ptr<Handler> handler,
         std::span<const int> listener_fds);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const std::vector<BoundAddress>& addresses() const noexcept;
  // Serves on the calling thread until stopped and drained.
  void run();
  // Thread-safe. graceful: stop accepting, finish requests in flight (up to
  // graceful_timeout), close idle connections; else close everything now.
  void stop(bool graceful);
  StatsSnapshot stats() const;
  std::size_t connection_count() const noexcept;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Hooks around fork() for an embedding interpreter (PyOS_BeforeFork etc.).
struct ProcessHooks {
  std::function<void()> before_fork;
  std::function<void()> after_fork_parent;
  std::function<void()> after_fork_child;
  // Forks instead of fork(2), returning as it does: an interpreter's own
  // fork (os.fork), which runs that interpreter's hooks itself.
  std::function<int()> fork;
};

// The process model: raises RLIMIT_NOFILE's soft limit to the hard one,
// points stderr at --error-log, binds (plus systemd's sockets), prints
// "anvil: listening on URL" per listener to stderr, forks config.workers
// workers (each calls make_handler, then serves), restarts dead workers and
// those stuck past --worker-timeout, replaces those past --max-requests,
// SIGTERM/SIGINT drain gracefully, SIGQUIT stops now, SIGHUP replaces the
// workers. Returns the process exit code (0 after a graceful stop). Throws
// std::system_error when a bind or opening a log fails; stderr is restored
// before it returns or throws.
int serve(const ServerConfig& config, const HandlerFactory& make_handler,
          const ProcessHooks& hooks = {});

}  // namespace anvil::server
