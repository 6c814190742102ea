/* Boot benchmark helper: run one boot, print when its output showed a mark and when it exited (ns). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 4096
#define MARK_MAX 256

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: boot-timer [-m MARK [-k]] SECS LOG COMMAND [ARG]...\n"
			"  Runs COMMAND (stdin /dev/null, stdout and stderr copied to LOG) and\n"
			"  prints \"EXIT_NS STATUS MARK_NS\": ns from start to exit, the exit\n"
			"  status (128 + signal if killed), and ns from start to the first output\n"
			"  of MARK (-1 if never).  -k kills COMMAND once MARK appeared, for a guest\n"
			"  that cannot power off.  COMMAND is killed after SECS seconds.\n");
}

/*
 * Copies the command's output from the pipe to the log until EOF, noting when mark
 * first appears (also when split across two reads).  Returns 0 at EOF, -ETIMEDOUT
 * at the deadline.
 */
static int pump(int in, int log, const char *mark, int kill_at_mark, pid_t pid,
		int64_t start, int64_t deadline, int64_t *mark_ns)
{
	size_t mlen = strlen(mark), keep = 0, total, tail;
	char buf[MARK_MAX + CHUNK];
	struct pollfd p = { .fd = in, .events = POLLIN };

	for (;;) {
		int64_t left = deadline - now_ns();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)(left / 1000000) + 1) <= 0)
			continue; /* EINTR, or the deadline: checked above */
		n = read(in, buf + keep, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		if (write(log, buf + keep, (size_t)n) != n)
			fprintf(stderr, "boot-timer: short write to the log: %s\n", strerror(errno));
		if (!mlen || *mark_ns >= 0)
			continue;
		total = keep + (size_t)n;
		if (memmem(buf, total, mark, mlen)) {
			*mark_ns = now_ns() - start;
			if (kill_at_mark)
				kill(pid, SIGKILL);
			continue;
		}
		/* Keep the last mlen - 1 bytes: the start of a mark the next read completes. */
		tail = total < mlen - 1 ? total : mlen - 1;
		memmove(buf, buf + total - tail, tail);
		keep = tail;
	}
}

int main(int argc, char **argv)
{
	const char *mark = "";
	int64_t start, end, mark_ns = -1;
	int opt, kill_at_mark = 0, status, code, log, pipefd[2];
	long secs;
	pid_t pid, r;

	while ((opt = getopt(argc, argv, "+m:k")) != -1) {
		if (opt == 'm') {
			mark = optarg;
		} else if (opt == 'k') {
			kill_at_mark = 1;
		} else {
			usage();
			return 2;
		}
	}
	if (argc - optind < 3 || (secs = strtol(argv[optind], NULL, 10)) <= 0 ||
	    strlen(mark) >= MARK_MAX || (kill_at_mark && !*mark)) {
		usage();
		return 2;
	}
	log = open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log < 0) {
		fprintf(stderr, "boot-timer: cannot create log %s: %s\n", argv[optind + 1],
			strerror(errno));
		return 2;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		fprintf(stderr, "boot-timer: pipe: %s\n", strerror(errno));
		return 2;
	}
	start = now_ns();
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "boot-timer: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0 || dup2(null, 0) < 0 || dup2(pipefd[1], 1) < 0 ||
		    dup2(pipefd[1], 2) < 0)
			_exit(126);
		execvp(argv[optind + 2], argv + optind + 2);
		fprintf(stderr, "boot-timer: cannot run %s: %s\n", argv[optind + 2], strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	if (pump(pipefd[0], log, mark, kill_at_mark, pid, start, start + secs * 1000000000LL,
		 &mark_ns))
		kill(pid, SIGKILL);
	do {
		r = waitpid(pid, &status, 0);
	} while (r < 0 && errno == EINTR);
	end = now_ns();
	if (r < 0) {
		fprintf(stderr, "boot-timer: waitpid: %s\n", strerror(errno));
		return 2;
	}
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	printf("%" PRId64 " %d %" PRId64 "\n", end - start, code, mark_ns);
	return 0;
}
