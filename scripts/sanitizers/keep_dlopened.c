/* dlclose() that keeps libraries loaded. scripts/sanitize.sh preloads it into the MPI test
 * binaries under AddressSanitizer: OpenMPI 4.1 unloads its plugins in MPI_Finalize, after which
 * LeakSanitizer reports what they allocated as leaks of an unknown module, which no suppression
 * can name. With the plugins still mapped, lsan.supp names them. */
#include <dlfcn.h>

int dlclose(void* handle) {
  (void)handle;
  return 0;
}
