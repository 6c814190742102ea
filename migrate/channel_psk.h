/* Migration channel: the TLS 1.3 external PSK file ("identity:hexkey" lines) and its callbacks. */
#ifndef MIGRATE_CHANNEL_PSK_H
#define MIGRATE_CHANNEL_PSK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#define PSK_IDENTITY_MAX 128
#define PSK_KEY_MIN	 16
#define PSK_KEY_MAX	 64
#define PSK_LINE_MAX	 (PSK_IDENTITY_MAX + 2 * PSK_KEY_MAX + 64)
#define PSK_FILE_MAX	 (64 << 10)
/* The suite every PSK session is made for: the PSK's hash must be the suite's. */
#define PSK_SUITE_NAME "TLS_AES_128_GCM_SHA256"

struct psk_entry {
	char identity[PSK_IDENTITY_MAX + 1];
	uint8_t key[PSK_KEY_MAX];
	size_t key_len;
};

struct psk_table {
	struct psk_entry *entries;
	size_t count;
	char note[256]; /* why the server found no key for the client ("" if it did) */
};

/*
 * Parses text (len bytes, untrusted: tests/fuzz/fuzz_channel_psk.c): one "identity:hexkey"
 * per line, surrounding blanks, blank lines and '#' comments skipped, at least one entry.
 * 0, or -EINVAL (-ENOMEM) with an empty table and err naming path, the line and the fix.
 */
int psk_table__parse(struct psk_table *t, const char *text, size_t len, const char *path, char *err,
		     size_t errlen);
/* Reads and parses path, a regular file of at most PSK_FILE_MAX bytes that only its owner
 * may read (-EPERM otherwise: it holds keys). */
int psk_table__load(struct psk_table *t, const char *path, char *err, size_t errlen);
/* Wipes the keys and frees; the zeroed table may be disposed again. */
void psk_table__dispose(struct psk_table *t);
/*
 * Sets ctx's PSK callbacks over t, which must outlive ctx: a client offers the first
 * entry, a server accepts any identity in t.
 */
void psk_table__install(SSL_CTX *ctx, struct psk_table *t, bool server);

#endif
