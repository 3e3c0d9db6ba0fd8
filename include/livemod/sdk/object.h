/* File: livemod/sdk/object.h
 *
 * The C ABI of live objects (docs/objects.md): a module exports a table of classes; each class
 * names its interface (a 128-bit id and its type info), a factory, the address of its vtable,
 * and an optional converter from the previous version of the class. The host creates objects
 * through the factories, counts them, and on a swap converts old objects lazily, either by
 * pointing the old vtable's slots at generated thunks or, in portable mode, through handles
 * that check a generation number. Plain C types only; livemod/sdk/object.hpp is the C++ face
 * that fills all of this in.
 *
 *   static const livemod_class_info classes[] = {{sizeof(livemod_class_info), BASE_CLASS_ID,
 *       "seed.base", &ibase_info, base_vtable, 7, base_create, 2, 1, base_convert_from_1}};
 *   static const livemod_class_table table = {sizeof table, 1, classes};
 *   LIVEMOD_EXPORT const livemod_class_table* livemod_get_classes(void) { return &table; }
 *
 * An object is laid out as {vptr, livemod_object_fields} in every version of its class (the
 * Itanium C++ ABI puts the vptr at offset 0); its data lives in a separate block the fields
 * point to, so that a converter can retarget the object in place.
 *
 * Lifetime: the table, the type infos and the strings they point to live as long as the image.
 * Threads: factories may be called from any thread at once; a converter is called at most once
 * per object and version, under the host's lock for that object.
 */
#ifndef LIVEMOD_SDK_OBJECT_H
#define LIVEMOD_SDK_OBJECT_H

#include <stdint.h>

#include "livemod/sdk/module.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A 128-bit id of an interface or a class; written as a UUID, "hi" holds its first 8 bytes. */
typedef struct livemod_iid {
  uint64_t hi;
  uint64_t lo;
} livemod_iid;

/* Runtime type info of an interface. Slots are the vtable's, in the Itanium C++ ABI's order:
 * slots 0 and 1 are the complete and the deleting destructor of livemod::unknown, slot 2 is
 * query_interface, then each interface's methods in declaration order, base first. */
typedef struct livemod_interface_info {
  uint32_t size; /* sizeof(livemod_interface_info) of the writer */
  uint32_t method_count; /* vtable slots, the two destructor slots included */
  livemod_iid iid;
  const char* name;
  const struct livemod_interface_info* base; /* the interface it extends; NULL for unknown */
  const char* const* method_names;           /* [method_count] */
  const char* const* method_signatures;      /* [method_count], e.g. "int(int, double)" */
  const uint8_t* returns_in_memory;          /* [method_count]: 1 when the result is returned
                                                through a hidden pointer (x86-64 SysV: not
                                                trivially copyable, or larger than 16 bytes) */
  uint64_t layout_hash; /* FNV-1a of the names and signatures of every slot */
} livemod_interface_info;

/* The per-object fields that follow the vptr. Accessed with atomic builtins where marked. */
typedef struct livemod_object_fields {
  uint64_t refs;                          /* atomic: the intrusive reference count */
  void* data;                             /* atomic: the data block of the object's version */
  const struct livemod_object_host* host; /* who created it; NULL in a prototype */
  const void* klass;                      /* the host's token for the object's class version */
  uint64_t generation;                    /* atomic: portable mode's conversion generation */
} livemod_object_fields;

/* What the host gives a factory; stored in every object it creates. */
typedef struct livemod_object_host {
  uint32_t size;
  void* context;
  /* The last reference went: the host destroys the object (a virtual delete) and accounts. */
  void (*destroy)(const struct livemod_object_host* host, void* object);
  /* Called by the object's destructor (the SDK's component base) while the object is intact. */
  void (*destroyed)(const struct livemod_object_host* host, void* object);
  /* A process-wide memory barrier (membarrier), for converters on machines whose loads are
   * not ordered by the vptr load (AArch64): called between the data store and the vptr store.
   * NULL when the machine does not need one (x86-64). */
  void (*publish_barrier)(const struct livemod_object_host* host);
} livemod_object_host;

/* A class: one implementation of an interface in one version of a module. */
typedef struct livemod_class_info {
  uint32_t size;
  uint32_t slot_count; /* the vtable's slots: the interface's method_count */
  livemod_iid class_id;
  const char* name;
  const livemod_interface_info* interface_info;
  const void* const* vtable; /* the address point: slot 0 (what an object's vptr holds) */
  /* Creates an object with one reference: *out is the object (its vptr at offset 0).
   * Returns LIVEMOD_OK or -LIVEMOD_E_*; never throws. */
  int32_t (*create)(const livemod_object_host* host, void** out);
  /* The version of the class's data block, and the one its converter accepts. */
  uint32_t data_version;
  uint32_t converts_from;
  /* Converts an object of the previous version in place: builds this version's data block
   * from the old one (fields added get values, removed ones are freed), stores the new data
   * pointer, calls host->publish_barrier when set, and only then stores this version's vtable
   * into the vptr with a release store. On failure it returns -LIVEMOD_E_* and leaves the
   * object untouched. NULL: objects of the previous version cannot be converted. */
  int32_t (*convert)(void* object);
} livemod_class_info;

typedef struct livemod_class_table {
  uint32_t size;
  uint32_t count;
  const livemod_class_info* classes;
} livemod_class_table;

/* The exported symbol of a module with classes. */
#define LIVEMOD_GET_CLASSES_SYMBOL "livemod_get_classes"
typedef const livemod_class_table* (*livemod_get_classes_fn)(void);

/* The interface id an object-only module answers in livemod_get_api, so a live_module can host
 * it (live_options.interface_id): the table it returns is its livemod_class_table. */
#define LIVEMOD_CLASSES_API_ID "livemod-classes-1"

#ifdef __cplusplus
}
#endif

#endif /* LIVEMOD_SDK_OBJECT_H */
