/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78). */
#ifndef VME_CRC32C_H
#define VME_CRC32C_H
#include <stddef.h>
#include <stdint.h>

void crc32c_init(void);
/* crc: the CRC of the preceding data (0 to start). Returns the CRC including buf. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* Hardware path; only valid when crc32c_hw_available() is true. */
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);
int crc32c_hw_available(void);
const char *crc32c_impl(void);
#endif
