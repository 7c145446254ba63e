#ifndef VME_ERRNAMES_H
#define VME_ERRNAMES_H
const char *errno_name(int e);
#endif
