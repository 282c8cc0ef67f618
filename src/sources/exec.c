/*
 * exec.c - the exec source (Flume's org.apache.flume.source.ExecSource,
 * alias "exec"): runs a command and turns every line it writes on stdout
 * into one event.
 *
 * Owns: one worker thread per source instance (started by ops->start,
 * stopped and joined by ops->stop), the child process and its process group,
 * the three pipes to the child, a wake-up pipe for stop, the line buffers and
 * the pending batch.  Nothing here is shared with other threads except the
 * stop flag, the wake-up pipe and the counters.
 *
 * Thread: everything below exec_thread() runs on the worker thread; init,
 * start, stop and destroy run on the agent's lifecycle thread.
 *
 * Behaviour (spec/components.md 1.3, behaviours.md 3):
 *  - Without `shell` the command is split on whitespace and executed
 *    directly; with `shell` (e.g. "/bin/sh -c") the shell words are split and
 *    the command is appended as one argument.  The child runs in its own
 *    process group, with default signal dispositions, an empty signal mask,
 *    and only fds 0-2 open.  Its stdin is a pipe nobody writes to (as Java's
 *    ProcessBuilder gives it), stdout is read for events, stderr is drained
 *    and logged at INFO when logStdErr=true.
 *  - Lines end at "\n", "\r" or "\r\n", exactly as Java's
 *    BufferedReader.readLine(); the terminator is stripped; a final
 *    unterminated line at EOF is an event too.  Lines longer than
 *    EXEC_LINE_MAX bytes are split into several events (rate-limited
 *    warning).  The bytes are decoded with `charset` and re-encoded as Flume
 *    does (line.getBytes(charset)): invalid UTF-8 becomes U+FFFD.
 *  - A batch goes to the channel processor when it holds batchSize events
 *    (capped by flm_processor_max_batch()) or batchTimeout ms after its first
 *    event, and at EOF.
 *  - No delivery guarantee: when a put fails the pending batch is lost (logged
 *    with its count), the command is killed and, if restart=true, run again
 *    after restartThrottle ms.  When the command exits the same restart rule
 *    applies.
 *  - Counters: EventReceivedCount (each line read) and EventAcceptedCount
 *    (events committed) only, as Flume (spec/metrics.md).
 *  - Command end: at stdout EOF the last batch is flushed and the command
 *    gets EXEC_EXIT_WAIT_MS to exit by itself before SIGTERM (Flume destroys
 *    the process right away); whatever it left running in its process group
 *    gets SIGTERM too.  The exit code is logged as Java reports it (128 +
 *    signal number when killed).
 *  - Stop: SIGTERM to the child's group, stdout is read until EOF (so output
 *    already written is not lost) for at most EXEC_GRACE_MS, the last batch
 *    is flushed, then SIGKILL if the group is still there, then reap.
 *  - Charsets: UTF-8, ISO-8859-1 and US-ASCII (with Java's aliases); any
 *    other name is a configuration error (the source is dropped) rather than
 *    a silent misdecoding.
 */
#include "sources/exec_text.h"

#include "core/component.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define EXEC_LINE_MAX 65536     /* bytes of body per event; longer lines are split */
#define EXEC_ERRLINE_MAX 4096   /* bytes of one logged stderr line */
#define EXEC_READ_CHUNK 65536   /* bytes per read(2) */
#define EXEC_TICK_MS 100        /* longest poll: how quickly stop is noticed */
#define EXEC_EXIT_WAIT_MS 1000  /* after stdout EOF: time to exit on its own */
#define EXEC_GRACE_MS 2000      /* after SIGTERM: time before SIGKILL */
#define EXEC_NOT_RUN INT_MIN    /* exit code of a command that never started */

/* ------------------------------------------------------------ configuration */

struct exec_conf {
    char *command;
    char *shell;                  /* NULL: exec the command's words directly */
    bool restart;
    long long restart_throttle;   /* ms */
    bool log_stderr;
    int batch_size;               /* events */
    long long batch_timeout;      /* ms */
    char *charset;
};

static const struct flm_prop exec_props[] = {
    {.name = "command", .type = FLM_P_STR, .off = FLM_OFF(struct exec_conf, command),
     .flags = FLM_P_REQUIRED,
     .doc = "Command to run; each line it writes on stdout becomes one event."},
    {.name = "shell", .type = FLM_P_STR, .off = FLM_OFF(struct exec_conf, shell),
     .doc = "Shell invocation such as '/bin/sh -c'; when set the command is passed to it as "
            "one argument, otherwise the command is split on whitespace and run directly."},
    {.name = "restart", .type = FLM_P_BOOL, .off = FLM_OFF(struct exec_conf, restart),
     .def = "false", .doc = "Run the command again when it exits or is killed."},
    {.name = "restartThrottle", .type = FLM_P_LONG,
     .off = FLM_OFF(struct exec_conf, restart_throttle), .def = "10000", .min = 0,
     .max = LLONG_MAX, .doc = "Milliseconds to wait before a restart."},
    {.name = "logStdErr", .type = FLM_P_BOOL, .off = FLM_OFF(struct exec_conf, log_stderr),
     .def = "false",
     .doc = "Log each line the command writes on stderr at INFO (otherwise it is discarded)."},
    {.name = "batchSize", .type = FLM_P_INT, .off = FLM_OFF(struct exec_conf, batch_size),
     .def = "20", .min = 1, .max = INT_MAX, .doc = "Lines put into the channel per transaction."},
    {.name = "batchTimeout", .type = FLM_P_LONG,
     .off = FLM_OFF(struct exec_conf, batch_timeout), .def = "3000", .min = 1,
     .max = LLONG_MAX,
     .doc = "Milliseconds after its first line before a partial batch is put anyway."},
    {.name = "charset", .type = FLM_P_STR, .off = FLM_OFF(struct exec_conf, charset),
     .def = "UTF-8",
     .doc = "Encoding of the command's output (UTF-8, ISO-8859-1 or US-ASCII); invalid "
            "input is replaced as Java does."},
    FLM_PROPS_END,
};


/* Splits s on runs of Java's \s (space, \t, \n, \v, \f, \r), appending
 * strdup'd words to v (capacity checked by the caller's count).  Returns the
 * number of words, or -1 on ENOMEM (words already added stay in v). */
static int exec_split_words(const char *s, char **v, size_t *n)
{
    int count = 0;
    const char *p = s;
    for (;;) {
        while (*p && strchr(" \t\n\v\f\r", *p))
            p++;
        if (*p == '\0')
            return count;
        const char *q = p;
        while (*q && !strchr(" \t\n\v\f\r", *q))
            q++;
        if (v != NULL) {
            v[*n] = strndup(p, (size_t)(q - p));
            if (v[*n] == NULL)
                return -1;
            (*n)++;
        }
        count++;
        p = q;
    }
}

static void exec_argv_free(char **argv)
{
    if (argv == NULL)
        return;
    for (size_t i = 0; argv[i]; i++)
        free(argv[i]);
    free(argv);
}

/* Builds the NULL-terminated argv Flume would run: the command's words, or
 * the shell's words followed by the whole command as one argument.  *out is
 * owned by the caller (exec_argv_free).  FLM_ERR when there is nothing to
 * run, FLM_ENOMEM. */
static int exec_build_argv(const char *shell, const char *command, char ***out)
{
    *out = NULL;
    const char *words = shell != NULL ? shell : command;
    size_t n = 0;
    int nw = exec_split_words(words, NULL, &n);
    if (nw <= 0)
        return FLM_ERR;
    char **v = calloc((size_t)nw + 2, sizeof(*v));
    if (v == NULL)
        return FLM_ENOMEM;
    if (exec_split_words(words, v, &n) < 0)
        goto nomem;
    if (shell != NULL) {
        v[n] = strdup(command);
        if (v[n] == NULL)
            goto nomem;
    }
    *out = v;
    return FLM_OK;
nomem:
    exec_argv_free(v);
    return FLM_ENOMEM;
}

static int exec_validate(void *confp, const char *comp, struct flm_diag *d)
{
    struct exec_conf *conf = confp;
    int rc = FLM_OK;
    if (flm_exec_charset_parse(conf->charset) < 0) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "charset",
                     "unsupported charset '%s' (supported: UTF-8, ISO-8859-1, US-ASCII)",
                     conf->charset);
        rc = FLM_ERR;
    }
    size_t n = 0;
    if (exec_split_words(conf->command, NULL, &n) <= 0) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "command", "the command is empty");
        rc = FLM_ERR;
    }
    if (conf->shell != NULL && exec_split_words(conf->shell, NULL, &n) <= 0) {
        flm_diag_add(d, FLM_SEV_ERROR, NULL, 0, comp, "shell",
                     "the shell is empty (remove the key to run the command directly)");
        rc = FLM_ERR;
    }
    return rc;
}

/* --------------------------------------------------------------- instance */

struct exec_ctx {
    struct flm_source *src;
    const struct exec_conf *conf;
    char **argv;                  /* what is run */
    enum exec_charset cs;
    size_t batch_max;             /* events per put: min(batchSize, channels' txn cap) */
    struct flm_event **batch;     /* batch_size slots */
    size_t nbatch;
    uint64_t batch_t0;            /* mono ms when the first pending event was read */
    struct exec_lines out, err;   /* stdout events, stderr log lines */
    char *rbuf;                   /* EXEC_READ_CHUNK bytes */
    char *scratch;                /* 3 * EXEC_LINE_MAX: recoded body */
    char *esc;                    /* 4 * EXEC_ERRLINE_MAX + 1: escaped stderr line */
    uint64_t nstderr;             /* StderrLogger index, as Flume's */
    bool failed;                  /* a put failed: kill the command */

    pthread_t thread;
    bool thread_started;
    int wake[2];                  /* stop() writes a byte to wake[1] */
    _Atomic bool stop_req;

    pid_t pid;                    /* current child (its group id too); 0 = none */
    int fd_in, fd_out, fd_err;    /* our ends of the child's pipes; -1 = closed */
};

static bool exec_stopping(struct exec_ctx *x)
{
    return atomic_load(&x->stop_req) || atomic_load(&x->src->stopping);
}

static void exec_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Empties the wake-up pipe (non-blocking). */
static void exec_drain_wake(struct exec_ctx *x)
{
    char b[64];
    while (read(x->wake[0], b, sizeof(b)) > 0) {
    }
}

/* Puts the pending batch.  The processor always consumes the events; on
 * failure they are lost, which Flume accepts for this source (no delivery
 * guarantee) but which must never be silent.  Returns FLM_OK or the put's
 * error (x->failed set). */
static int exec_flush(struct exec_ctx *x)
{
    size_t n = x->nbatch;
    if (n == 0)
        return FLM_OK;
    x->nbatch = 0;
    struct flm_err err = {0};
    int rc = flm_processor_put(x->src->proc, x->batch, n, &err);
    if (rc == FLM_OK) {
        flm_ctr_add(&x->src->c.ctr, FLM_SRC_EVENT_ACCEPTED, n);
        return FLM_OK;
    }
    x->failed = true;
    flm_error(&x->src->c.log,
              "Failed while running command: %s: %s; the pending batch of %zu event%s is "
              "lost and the command is killed",
              x->conf->command, err.msg[0] ? err.msg : flm_strerror(rc), n, n == 1 ? "" : "s");
    return rc;
}

/* exec_lines callback for stdout: one line -> one event in the batch. */
static int exec_on_line(void *arg, const char *line, size_t len)
{
    struct exec_ctx *x = arg;
    flm_ctr_add(&x->src->c.ctr, FLM_SRC_EVENT_RECEIVED, 1);
    size_t blen;
    const char *body = flm_exec_recode(x->cs, line, len, x->scratch, &blen);
    size_t slots, bytes = flm_processor_header_room(x->src->proc, &slots);
    struct flm_event *ev = flm_event_new_room(body, blen, NULL, 0, slots, bytes);
    if (ev == NULL) {
        flm_log_limited(FLM_LOG_ERROR, &x->src->c.log, ENOMEM,
                        "out of memory: a line of %zu bytes from the command is lost", len);
        return FLM_OK;
    }
    if (x->nbatch == 0)
        x->batch_t0 = flm_mono_ms();
    x->batch[x->nbatch++] = ev;
    if (x->nbatch >= x->batch_max)
        return exec_flush(x);
    return FLM_OK;
}

/* exec_lines callback for stderr: logged (escaped) or dropped. */
static int exec_on_errline(void *arg, const char *line, size_t len)
{
    struct exec_ctx *x = arg;
    if (!x->conf->log_stderr)
        return FLM_OK;
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {   /* no forged log lines */
            x->esc[o++] = '\\';
            x->esc[o++] = 'x';
            x->esc[o++] = hex[c >> 4];
            x->esc[o++] = hex[c & 15];
        } else {
            x->esc[o++] = (char)c;
        }
    }
    x->esc[o] = '\0';
    flm_info(&x->src->c.log, "StderrLogger[%llu] = '%s'", (unsigned long long)++x->nstderr,
             x->esc);
    return FLM_OK;
}

/* Reads what is available on stderr; at EOF logs the last line and closes. */
static void exec_read_stderr(struct exec_ctx *x)
{
    for (int rounds = 0; rounds < 16 && x->fd_err >= 0; rounds++) {
        ssize_t r = read(x->fd_err, x->rbuf, EXEC_READ_CHUNK);
        if (r > 0) {
            flm_exec_lines_feed(&x->err, x->rbuf, (size_t)r, exec_on_errline, x);
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        flm_exec_lines_finish(&x->err, exec_on_errline, x);
        exec_close(&x->fd_err);
    }
}

/* Creates a close-on-exec pipe whose ends are not 0-2, so the dup2 file
 * actions below never overwrite one of our own ends (an agent started with
 * stdio closed gets those numbers back from pipe2).  0 or an errno. */
static int exec_pipe(int p[2])
{
    if (pipe2(p, O_CLOEXEC) != 0)
        return errno;
    for (int i = 0; i < 2; i++) {
        if (p[i] > 2)
            continue;
        int fd = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
            int e = errno;
            close(p[0]);
            close(p[1]);
            p[0] = p[1] = -1;
            return e;
        }
        close(p[i]);
        p[i] = fd;
    }
    return 0;
}

/* Starts the command.  FLM_OK with x->pid and the pipe fds set, or FLM_EIO
 * with errno set (nothing left open). */
static int exec_spawn(struct exec_ctx *x)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    int rc;
    if ((rc = exec_pipe(pin)) != 0 || (rc = exec_pipe(pout)) != 0 || (rc = exec_pipe(perr)) != 0)
        goto out;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
        goto out;
    if ((rc = posix_spawnattr_init(&at)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        goto out;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    /* The agent may ignore SIGPIPE or block signals in its threads; a child
     * must start clean or `tail` would never die of a closed pipe. */
    if ((rc = posix_spawn_file_actions_adddup2(&fa, pin[0], 0)) == 0 &&
        (rc = posix_spawn_file_actions_adddup2(&fa, pout[1], 1)) == 0 &&
        (rc = posix_spawn_file_actions_adddup2(&fa, perr[1], 2)) == 0 &&
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 34)
        /* Other components may have fds without O_CLOEXEC. */
        (rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) == 0 &&
#endif
#endif
        (rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                POSIX_SPAWN_SETSIGDEF)) == 0 &&
        (rc = posix_spawnattr_setpgroup(&at, 0)) == 0 &&
        (rc = posix_spawnattr_setsigmask(&at, &none)) == 0 &&
        (rc = posix_spawnattr_setsigdefault(&at, &all)) == 0) {
        pid_t pid;
        rc = posix_spawnp(&pid, x->argv[0], &fa, &at, x->argv, environ);
        if (rc == 0)
            x->pid = pid;
    }
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
out:
    exec_close(&pin[0]);
    exec_close(&pout[1]);
    exec_close(&perr[1]);
    if (rc != 0) {
        exec_close(&pin[1]);
        exec_close(&pout[0]);
        exec_close(&perr[0]);
        errno = rc;
        return FLM_EIO;
    }
    x->fd_in = pin[1];
    x->fd_out = pout[0];
    x->fd_err = perr[0];
    fcntl(x->fd_out, F_SETFL, O_NONBLOCK);
    fcntl(x->fd_err, F_SETFL, O_NONBLOCK);
    return FLM_OK;
}

/* True once the child has exited (still unreaped, so its process group id
 * cannot be reused while we signal the group). */
static bool exec_child_exited(struct exec_ctx *x)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)x->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno == ECHILD;   /* someone else reaped it (SIGCHLD ignored) */
    return si.si_pid == x->pid;
}

/* Waits until the child exits, the monotonic time reaches deadline, or (when
 * stop_breaks) a stop is requested, draining stderr meanwhile.  True when
 * the child exited. */
static bool exec_wait_exit(struct exec_ctx *x, uint64_t deadline, bool stop_breaks)
{
    for (;;) {
        if (exec_child_exited(x))
            return true;
        uint64_t now = flm_mono_ms();
        if (now >= deadline || (stop_breaks && exec_stopping(x)))
            return false;
        uint64_t left = deadline - now;
        struct pollfd pfd[2] = {{.fd = x->wake[0], .events = POLLIN},
                                {.fd = x->fd_err, .events = POLLIN}};
        /* No SIGCHLD handler: poll the child's state every 20 ms. */
        if (poll(pfd, 2, left < 20 ? (int)left : 20) > 0) {
            if (pfd[0].revents)
                exec_drain_wake(x);
            if (pfd[1].revents)
                exec_read_stderr(x);
        }
    }
}

/* Ends the current child: waits wait_ms for it to exit on its own (unless
 * a stop comes), then SIGTERM to its group (unless already sent at
 * term_at), EXEC_GRACE_MS later SIGKILL.  Stragglers left in the group by a
 * leader that exited get SIGTERM.  Reaps it and returns its exit code as
 * Java reports it (128 + signal when killed). */
static int exec_reap(struct exec_ctx *x, int wait_ms, uint64_t term_at)
{
    bool exited = false;
    if (term_at == 0) {
        if (wait_ms > 0)
            exited = exec_wait_exit(x, flm_mono_ms() + (uint64_t)wait_ms, true);
        if (!exited) {
            kill(-x->pid, SIGTERM);
            term_at = flm_mono_ms();
        }
    }
    if (!exited)
        exited = exec_wait_exit(x, term_at + EXEC_GRACE_MS, false);
    if (!exited) {
        flm_warn(&x->src->c.log, "command [%s] (pid %ld) ignored SIGTERM for %d ms; killing it",
                 x->conf->command, (long)x->pid, EXEC_GRACE_MS);
        kill(-x->pid, SIGKILL);
    } else {
        kill(-x->pid, SIGTERM);   /* background children it left behind */
    }
    int st = 0, code = -1;
    pid_t r;
    do {
        r = waitpid(x->pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    if (r == x->pid) {
        if (WIFEXITED(st))
            code = WEXITSTATUS(st);
        else if (WIFSIGNALED(st))
            code = 128 + WTERMSIG(st);
    }
    x->pid = 0;
    exec_read_stderr(x);   /* whatever is already there; never waits */
    if (x->fd_err >= 0)
        flm_exec_lines_finish(&x->err, exec_on_errline, x);
    exec_close(&x->fd_err);
    exec_close(&x->fd_in);
    return code;
}

/* Runs the command once, from spawn to reap.  Returns its exit code, or
 * EXEC_NOT_RUN when it could not be started (logged). */
static int exec_run_once(struct exec_ctx *x)
{
    if (exec_spawn(x) != FLM_OK) {
        /* Rate-limited: with restart=true and a small restartThrottle this
         * repeats for ever. */
        flm_log_limited(FLM_LOG_ERROR, &x->src->c.log, errno,
                        "Failed while running command: %s: cannot run program \"%s\"",
                        x->conf->command, x->argv[0]);
        return EXEC_NOT_RUN;
    }
    flm_debug(&x->src->c.log, "command [%s] started, pid %ld", x->conf->command, (long)x->pid);
    flm_exec_lines_reset(&x->out);
    flm_exec_lines_reset(&x->err);
    x->failed = false;
    uint64_t term_at = 0;

    while (x->fd_out >= 0 && !x->failed) {
        uint64_t now = flm_mono_ms();
        if (exec_stopping(x) && term_at == 0) {
            /* Keep reading: what the command wrote before dying still
             * becomes events. */
            kill(-x->pid, SIGTERM);
            term_at = now;
        }
        if (term_at != 0 && now - term_at >= EXEC_GRACE_MS)
            break;
        int timeout = EXEC_TICK_MS;
        if (x->nbatch > 0) {
            uint64_t due = x->batch_t0 + (uint64_t)x->conf->batch_timeout;
            uint64_t left = due > now ? due - now : 0;
            if (left < (uint64_t)timeout)
                timeout = (int)left;
        }
        struct pollfd pfd[3] = {{.fd = x->wake[0], .events = POLLIN},
                                {.fd = x->fd_out, .events = POLLIN},
                                {.fd = x->fd_err, .events = POLLIN}};
        int pr = poll(pfd, 3, timeout);
        if (pr < 0 && errno != EINTR) {
            flm_log(FLM_LOG_ERROR, &x->src->c.log, errno, "poll failed; killing the command");
            break;
        }
        if (pr > 0 && pfd[0].revents)
            exec_drain_wake(x);
        if (pr > 0 && pfd[1].revents) {
            /* A few reads per wake-up so stderr and timeouts get a turn. */
            for (int rounds = 0; rounds < 4 && x->fd_out >= 0 && !x->failed; rounds++) {
                ssize_t r = read(x->fd_out, x->rbuf, EXEC_READ_CHUNK);
                if (r > 0) {
                    uint64_t nsplit = x->out.nsplit;
                    flm_exec_lines_feed(&x->out, x->rbuf, (size_t)r, exec_on_line, x);
                    if (x->out.nsplit != nsplit)
                        flm_log_limited(FLM_LOG_WARN, &x->src->c.log, 0,
                                        "a line longer than %d bytes was split into several "
                                        "events (%llu cut(s) so far)",
                                        EXEC_LINE_MAX, (unsigned long long)x->out.nsplit);
                    if ((size_t)r < EXEC_READ_CHUNK)
                        break;
                    continue;
                }
                if (r < 0 && errno == EINTR)
                    continue;
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r < 0)
                    flm_log(FLM_LOG_ERROR, &x->src->c.log, errno,
                            "reading the output of command [%s] failed", x->conf->command);
                flm_exec_lines_finish(&x->out, exec_on_line, x);
                exec_close(&x->fd_out);
            }
        }
        if (pr > 0 && pfd[2].revents)
            exec_read_stderr(x);
        if (!x->failed && x->nbatch > 0 &&
            flm_mono_ms() >= x->batch_t0 + (uint64_t)x->conf->batch_timeout)
            exec_flush(x);
    }
    if (!x->failed)
        exec_flush(x);
    /* After a failed put, closing stdout makes the command's next write fail
     * (SIGPIPE) even before the signal arrives. */
    exec_close(&x->fd_out);
    bool gentle = !x->failed && !exec_stopping(x);
    return exec_reap(x, gentle ? EXEC_EXIT_WAIT_MS : 0, term_at);
}

/* Sleeps ms unless a stop comes first; true when stopping. */
static bool exec_sleep(struct exec_ctx *x, long long ms)
{
    uint64_t end = flm_mono_ms() + (uint64_t)ms;
    while (!exec_stopping(x)) {
        uint64_t now = flm_mono_ms();
        if (now >= end)
            return false;
        uint64_t left = end - now;
        struct pollfd pfd = {.fd = x->wake[0], .events = POLLIN};
        if (poll(&pfd, 1, left < EXEC_TICK_MS ? (int)left : EXEC_TICK_MS) > 0)
            exec_drain_wake(x);
    }
    return true;
}

/* The worker thread: run, (re)start after restartThrottle, until stopped or
 * the command ends with restart=false. */
static void *exec_thread(void *arg)
{
    struct exec_ctx *x = arg;
    while (!exec_stopping(x)) {
        int code = exec_run_once(x);
        char codebuf[24];
        if (code == EXEC_NOT_RUN)
            snprintf(codebuf, sizeof(codebuf), "unknown");
        else
            snprintf(codebuf, sizeof(codebuf), "%d", code);
        if (!x->conf->restart || exec_stopping(x)) {
            flm_info(&x->src->c.log, "Command [%s] exited with %s", x->conf->command, codebuf);
            break;
        }
        flm_info(&x->src->c.log, "Restarting in %lldms, exit code %s",
                 x->conf->restart_throttle, codebuf);
        if (exec_sleep(x, x->conf->restart_throttle))
            break;
    }
    return NULL;
}

/* ---------------------------------------------------------------- ops */

static void exec_destroy(struct flm_source *src)
{
    struct exec_ctx *x = src->c.ctx;
    if (x == NULL)
        return;
    for (size_t i = 0; i < x->nbatch; i++)
        flm_event_free(x->batch[i]);
    free(x->batch);
    exec_argv_free(x->argv);
    flm_exec_lines_free(&x->out);
    flm_exec_lines_free(&x->err);
    free(x->rbuf);
    free(x->scratch);
    free(x->esc);
    exec_close(&x->wake[0]);
    exec_close(&x->wake[1]);
    free(x);
    src->c.ctx = NULL;
}

static int exec_init(struct flm_source *src, struct flm_err *err)
{
    const struct exec_conf *conf = src->c.conf;
    struct exec_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    src->c.ctx = x;
    x->src = src;
    x->conf = conf;
    x->wake[0] = x->wake[1] = -1;
    x->fd_in = x->fd_out = x->fd_err = -1;
    int cs = flm_exec_charset_parse(conf->charset);
    if (cs < 0)
        return flm_err_set(err, FLM_ERR, "unsupported charset '%s'", conf->charset);
    x->cs = (enum exec_charset)cs;
    int rc = exec_build_argv(conf->shell, conf->command, &x->argv);
    if (rc == FLM_ERR)
        return flm_err_set(err, FLM_ERR, "the command is empty");
    if (rc != FLM_OK)
        return flm_err_set(err, rc, "out of memory");
    x->batch = calloc((size_t)conf->batch_size, sizeof(*x->batch));
    x->rbuf = malloc(EXEC_READ_CHUNK);
    x->scratch = malloc(3 * (size_t)EXEC_LINE_MAX);
    x->esc = malloc(4 * (size_t)EXEC_ERRLINE_MAX + 1);
    if (x->batch == NULL || x->rbuf == NULL || x->scratch == NULL ||
        x->esc == NULL || flm_exec_lines_init(&x->out, EXEC_LINE_MAX, x->cs == EXEC_CS_UTF8) ||
        flm_exec_lines_init(&x->err, EXEC_ERRLINE_MAX, x->cs == EXEC_CS_UTF8))
        return flm_err_set(err, FLM_ENOMEM, "out of memory");
    x->batch_max = (size_t)conf->batch_size;
    return FLM_OK;
}

static int exec_start(struct flm_source *src, struct flm_err *err)
{
    struct exec_ctx *x = src->c.ctx;
    size_t cap = flm_processor_max_batch(src->proc);
    x->batch_max = (size_t)x->conf->batch_size;
    if (cap > 0 && cap < x->batch_max)
        x->batch_max = cap;
    atomic_store(&x->stop_req, false);
    if (x->wake[0] < 0 && pipe2(x->wake, O_CLOEXEC | O_NONBLOCK) != 0)
        return flm_err_set(err, FLM_EIO, "cannot create a pipe: %s", strerror(errno));
    flm_info(&src->c.log, "Exec source starting with command: %s", x->conf->command);
    int rc = pthread_create(&x->thread, NULL, exec_thread, x);
    if (rc != 0)
        return flm_err_set(err, FLM_ERR, "cannot start the exec thread: %s", strerror(rc));
    x->thread_started = true;
    return FLM_OK;
}

static void exec_stop(struct flm_source *src)
{
    struct exec_ctx *x = src->c.ctx;
    if (x == NULL || !x->thread_started)
        return;
    flm_info(&src->c.log, "Stopping exec source with command: %s", x->conf->command);
    atomic_store(&x->stop_req, true);
    ssize_t w = write(x->wake[1], "x", 1);
    (void)w;   /* a full pipe already wakes the thread */
    pthread_join(x->thread, NULL);
    x->thread_started = false;
}

static const struct flm_source_ops exec_ops = {
    .init = exec_init,
    .start = exec_start,
    .stop = exec_stop,
    .destroy = exec_destroy,
};

const struct flm_type flm_source_exec = {
    .kind = FLM_SOURCE,
    .alias = "exec",
    .klass = "org.apache.flume.source.ExecSource",
    .summary = "Runs a command and turns each line of its stdout into an event",
    .props = exec_props,
    .conf_size = sizeof(struct exec_conf),
    .validate = exec_validate,
    .batch_key = "batchSize",
    .ops = &exec_ops,
};
