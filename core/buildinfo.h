/* What a result depends on besides its config and seed (docs/formats.md, meta.ini): the source
 * revision when the binary was built, the build, the compiler, and the BLAS library with the
 * kernel it chose on this machine. meta.ini and `resbench --version` show the same facts. */
#ifndef RB_BUILDINFO_H
#define RB_BUILDINFO_H

typedef struct {
    const char *key;
    char value[256]; /* one line: never empty ("unknown" when a fact cannot be had) */
} BuildFact;

enum { RB_BUILD_FACTS = 7 };
/* Fills facts[RB_BUILD_FACTS], in the order meta.ini lists them: git_rev, build_type,
 * build_flags, compiler, mpi, blas, blas_core. */
void rb_build_facts(BuildFact *facts);
/* "66d6ac2", "66d6ac2-dirty" (tracked files differed from that commit) or "unknown" (no git or
 * not a checkout), taken at build time (cmake/git_rev.cmake). */
const char *rb_git_rev(void);

#endif
