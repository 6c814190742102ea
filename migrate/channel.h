/* Migration channel: one TCP connection, TLS 1.3 (certificates or PSK) or plaintext on request. */
#ifndef MIGRATE_CHANNEL_H
#define MIGRATE_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CHANNEL_ERR_MAX 256

/*
 * How the channel is secured: exactly one of
 *  - cert + key + ca: mutual certificate authentication.  Both sides verify the peer's
 *    certificate chain against ca and refuse a peer without one; the connecting side also
 *    requires the server's certificate to name the HOST it dialled (a subjectAltName DNS
 *    entry, or an IP entry when HOST is an address), as QEMU does for migration;
 *  - psk_file: TLS 1.3 external PSK, lines "identity:hexkey" (16 to 64 bytes of key, '#'
 *    comments).  The connecting side offers the first line; the listening side accepts any;
 *  - insecure: plaintext TCP.
 * TLS is 1.3 only, AES-GCM: AES-128 preferred (faster; the only suite for PSK sessions).
 */
struct channel_security {
	const char *cert, *key, *ca;
	const char *psk_file;
	bool insecure;
};

struct channel;

/*
 * Checks the options before any connection: exactly one mode, every file readable and well
 * formed, the key matching the certificate.  0, or -EINVAL (-errno of a file) with err
 * naming the option or file and the fix.  accept and connect run the same checks.
 */
int channel__check_security(const struct channel_security *s, char *err, size_t errlen);

/*
 * A listening socket on "ADDR:PORT" ("0.0.0.0:4444", "[::1]:4444", "[::]:4444"; PORT 0
 * picks a free port, see channel__local_port), SO_REUSEADDR.  0 with *fd set, or -errno
 * with err naming the address and the problem (bad syntax, address in use).
 */
int channel__listen(const char *addr_port, int *fd, char *err, size_t errlen);
/* The port lfd is bound to (after PORT 0), or -errno. */
int channel__local_port(int lfd);

/*
 * Waits for one connection on lfd and completes the handshake (bounded by a 10 s
 * timeout once connected).  The security options are checked before waiting.  0 with *out
 * set, or -errno with err saying why (for a refused peer, with OpenSSL's reason: "the
 * peer's certificate is refused: unable to get local issuer certificate (it is not signed
 * by our --tls-ca)", "the peer refused our certificate (tlsv1 alert unknown ca)...").
 */
int channel__accept(int lfd, const struct channel_security *s, struct channel **out, char *err,
		    size_t errlen);
/*
 * Connects to "HOST:PORT" ("[v6addr]:PORT" for IPv6), at most 10 s for TCP and as much for
 * the handshake, which includes the server's word that it accepted our certificate (in TLS
 * 1.3 the client finishes before the server has checked it).  Errors as channel__accept.
 */
int channel__connect(const char *host_port, const struct channel_security *s, struct channel **out,
		     char *err, size_t errlen);

/*
 * stream_read_fn / stream_write_fn over the channel (ctx is the struct channel).  read
 * returns what is there (0 only at the peer's orderly close); write sends all of len.  On
 * error -errno (-EPROTO for a TLS failure, -ECONNRESET for a connection cut without TLS's
 * close), and channel__error says what happened.  Plaintext cannot tell a cut from an
 * orderly close: the stream's END record does.
 * One reader thread and one writer thread may use a channel at once (a replication primary
 * reads the backup's replies while it streams), in every mode; two readers, or two writers,
 * may not.  channel__error then holds the last error of either.
 * A write to a dead peer can raise SIGPIPE under TLS: the process ignores it (twin-vmm does).
 */
ssize_t channel__read(void *ch, void *buf, size_t len);
int channel__write(void *ch, const void *buf, size_t len);
/* The last read/write error as one line ("" when none). */
const char *channel__error(const struct channel *ch);
/* What was negotiated, for logs: "TLSv1.3 TLS_AES_128_GCM_SHA256 (certificates)",
 * "TLSv1.3 TLS_AES_128_GCM_SHA256 (pre-shared key)" or "plaintext TCP (--insecure)". */
const char *channel__describe(const struct channel *ch);

/*
 * Cuts the connection (shutdown(2)) without freeing: a read or write blocked in another
 * thread returns -ECANCELED, as does every later one, and the peer sees a cut connection.
 * Any thread (a migration's cancel).  channel__close frees as usual.
 */
void channel__abort(struct channel *ch);

/* Sends TLS's close_notify (the peer's read then returns 0), closes and frees. NULL is fine. */
void channel__close(struct channel *ch);

#endif
