/* The comma-separated key[=value] specs of --nic/--disk and the VM config's nic/disk lines. */
#ifndef TOOLS_SPEC_ITEM_H
#define TOOLS_SPEC_ITEM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One key[=value] item of a spec, pointing into it (val NULL: a bare flag). */
struct spec_item {
	const char *key, *val;
	size_t key_len, val_len;
};

/* Splits the next item off *spec and advances it; false once none is left. */
bool spec_item__next(const char **spec, struct spec_item *it);

/* Whether the item's key is key. */
bool spec_item__is(const struct spec_item *it, const char *key);

/* Parses "xx:xx:xx:xx:xx:xx" (hex) of len bytes into mac; false if malformed. */
bool spec_item__parse_mac(const char *s, size_t len, uint8_t mac[6]);

#endif
