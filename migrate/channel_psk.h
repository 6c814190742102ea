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
 * Reads path: one "identity:hexkey" per line, blank lines and '#' comments skipped, at
 * least one entry.  Refuses a file others may read (it holds keys).  0 or -errno with err
 * naming the file, the line and the fix.
 */
int psk_table__load(struct psk_table *t, const char *path, char *err, size_t errlen);
/* Wipes the keys and frees; the zeroed table may be disposed again. */
void psk_table__dispose(struct psk_table *t);
/*
 * Sets ctx's PSK callbacks over t, which must outlive ctx: a client offers the first
 * entry, a server accepts any identity in t.
 */
void psk_table__install(SSL_CTX *ctx, struct psk_table *t, bool server);

#endif
