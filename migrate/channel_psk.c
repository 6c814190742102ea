/* Migration channel: the TLS 1.3 external PSK file and OpenSSL's PSK session callbacks. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "channel_psk.h"
#include "util.h"

/* TLS_AES_128_GCM_SHA256's IANA id, for SSL_CIPHER_find. */
static const unsigned char psk_suite_id[] = {0x13, 0x01};

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One trimmed, non-empty line "identity:hexkey" into e. */
static int parse_line(char *line, struct psk_entry *e, const char *path, unsigned int lineno,
		      char *err, size_t errlen)
{
	char *colon = strchr(line, ':'), *hex;
	size_t idlen, hexlen;

	if (!colon)
		return util__fail(err, errlen, -EINVAL,
				  "--tls-psk %s:%u: no ':' (each line is identity:hexkey)", path,
				  lineno);
	idlen = (size_t)(colon - line);
	hex = colon + 1;
	hexlen = strlen(hex);
	if (idlen == 0 || idlen > PSK_IDENTITY_MAX)
		return util__fail(err, errlen, -EINVAL,
				  "--tls-psk %s:%u: the identity must be 1 to %d characters", path,
				  lineno, PSK_IDENTITY_MAX);
	if (hexlen % 2 || hexlen < 2 * PSK_KEY_MIN || hexlen > 2 * PSK_KEY_MAX)
		return util__fail(
		    err, errlen, -EINVAL,
		    "--tls-psk %s:%u: the key must be %d to %d bytes as an even number of "
		    "hex digits (e.g. from: openssl rand -hex 32)",
		    path, lineno, PSK_KEY_MIN, PSK_KEY_MAX);
	for (size_t i = 0; i < hexlen; i += 2) {
		int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);

		if (hi < 0 || lo < 0)
			return util__fail(
			    err, errlen, -EINVAL,
			    "--tls-psk %s:%u: the key has a character that is not a hex "
			    "digit",
			    path, lineno);
		e->key[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(e->identity, line, idlen);
	e->identity[idlen] = '\0';
	e->key_len = hexlen / 2;
	return 0;
}

static char *trim(char *s)
{
	char *end = s + strlen(s);

	while (isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int psk_table__parse(struct psk_table *t, const char *text, size_t len, const char *path, char *err,
		     size_t errlen)
{
	char line[PSK_LINE_MAX + 1];
	unsigned int lineno = 0;
	size_t pos = 0;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (memchr(text, '\0', len))
		return util__fail(err, errlen, -EINVAL, "--tls-psk %s: a NUL byte: not a text file",
				  path);
	while (pos < len && !rc) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = (nl ? (size_t)(nl - text) : len) - pos;
		struct psk_entry *ne;
		char *l;

		lineno++;
		if (n > PSK_LINE_MAX) {
			rc = util__fail(err, errlen, -EINVAL, "--tls-psk %s:%u: line too long",
					path, lineno);
			break;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + 1;
		l = trim(line);
		if (!*l || *l == '#')
			continue;
		ne = realloc(t->entries, (t->count + 1) * sizeof(*ne));
		if (!ne) {
			rc = util__fail(err, errlen, -ENOMEM, "--tls-psk %s: out of memory", path);
			break;
		}
		t->entries = ne;
		memset(&ne[t->count], 0, sizeof(*ne));
		rc = parse_line(l, &ne[t->count], path, lineno, err, errlen);
		if (!rc)
			t->count++;
	}
	if (!rc && !t->count)
		rc =
		    util__fail(err, errlen, -EINVAL, "--tls-psk %s: no identity:hexkey line", path);
	OPENSSL_cleanse(line, sizeof(line));
	if (rc < 0)
		psk_table__dispose(t);
	return rc;
}

int psk_table__load(struct psk_table *t, const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	struct stat st;
	ssize_t got = 0;
	int fd, rc;

	memset(t, 0, sizeof(*t));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return util__fail(err, errlen, -errno, "--tls-psk %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = util__fail(err, errlen, -errno, "--tls-psk %s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		rc = util__fail(err, errlen, -EPERM,
				"--tls-psk %s: others may read these keys: chmod 600 %s", path,
				path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > PSK_FILE_MAX) {
		rc = util__fail(err, errlen, -EINVAL,
				"--tls-psk %s: not a regular file of at most %d bytes", path,
				PSK_FILE_MAX);
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		rc = util__fail(err, errlen, -ENOMEM, "--tls-psk %s: out of memory", path);
		goto out;
	}
	/* Regular and small: one read, retried on a signal. */
	do
		got = read(fd, text, (size_t)st.st_size + 1);
	while (got < 0 && errno == EINTR);
	if (got < 0 || got > st.st_size)
		rc = util__fail(err, errlen, got < 0 ? -errno : -EIO, "--tls-psk %s: %s", path,
				got < 0 ? strerror(errno) : "changed while read");
	else
		rc = psk_table__parse(t, text, (size_t)got, path, err, errlen);
out:
	if (text) {
		OPENSSL_cleanse(text, (size_t)st.st_size + 1);
		free(text);
	}
	close(fd);
	return rc;
}

void psk_table__dispose(struct psk_table *t)
{
	if (t->entries)
		OPENSSL_cleanse(t->entries, t->count * sizeof(*t->entries));
	free(t->entries);
	t->entries = NULL;
	t->count = 0;
}

static struct psk_table *table_of(SSL *ssl)
{
	return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
}

static SSL_SESSION *session_for(SSL *ssl, const struct psk_entry *e)
{
	const SSL_CIPHER *c = SSL_CIPHER_find(ssl, psk_suite_id);
	SSL_SESSION *s = SSL_SESSION_new();

	if (!s || !c || !SSL_SESSION_set1_master_key(s, e->key, e->key_len) ||
	    !SSL_SESSION_set_cipher(s, c) || !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s);
		return NULL;
	}
	return s;
}

/* Client: offer the first entry.  md is set on a retry, for the suite the server chose. */
static int use_session(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
		       SSL_SESSION **sess)
{
	const struct psk_entry *e = &table_of(ssl)->entries[0];
	SSL_SESSION *s;

	*sess = NULL;
	if (md && md != SSL_CIPHER_get_handshake_digest(SSL_CIPHER_find(ssl, psk_suite_id)))
		return 1;
	s = session_for(ssl, e);
	if (!s)
		return 0;
	*id = (const unsigned char *)e->identity;
	*idlen = strlen(e->identity);
	*sess = s;
	return 1;
}

/* Server: the key for the client's identity; none (and a note) if it is not in the file. */
static int find_session(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	struct psk_table *t = table_of(ssl);
	char shown[PSK_IDENTITY_MAX + 1];

	*sess = NULL;
	for (size_t i = 0; i < t->count; i++) {
		const struct psk_entry *e = &t->entries[i];

		if (strlen(e->identity) == idlen && !memcmp(e->identity, id, idlen)) {
			*sess = session_for(ssl, e);
			return *sess ? 1 : 0;
		}
	}
	/* The identity is the peer's: shown with anything unprintable as '?'. */
	for (size_t i = 0; i < idlen && i < sizeof(shown) - 1; i++)
		shown[i] = isprint(id[i]) ? (char)id[i] : '?';
	shown[idlen < sizeof(shown) - 1 ? idlen : sizeof(shown) - 1] = '\0';
	snprintf(t->note, sizeof(t->note),
		 "the client's PSK identity '%s' is not in our --tls-psk file", shown);
	return 1;
}

void psk_table__install(SSL_CTX *ctx, struct psk_table *t, bool server)
{
	SSL_CTX_set_app_data(ctx, t);
	if (server)
		SSL_CTX_set_psk_find_session_callback(ctx, find_session);
	else
		SSL_CTX_set_psk_use_session_callback(ctx, use_session);
}
