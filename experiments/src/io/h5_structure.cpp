#include "experiments/src/io/h5_structure.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "experiments/src/user_error.hpp"

// Layouts from the HDF5 File Format Specification, as HDF5 1.10 reads them. Every read is bounds-checked;
// a structure that does not parse is not followed further (HDF5 reports it itself, as an error).

namespace sbx::io::detail {
namespace {

using u64 = std::uint64_t;
using Objects = std::map<u64, u64>;  // a global heap collection's objects: size by index

class Walk {
 public:
  Walk(const std::vector<char>& bytes, const std::string& path) : b_(bytes), path_(path) {}

  // Superblock versions 0 and 1 (fields up to the root group's symbol table entry) and 2 and 3 (the root
  // object header's address). HDF5 looks for the signature at 0, 512, 1024, 2048, ...; addresses are
  // relative to where it is found.
  void run() {
    static const char signature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
    u64 at = 0;
    while (has(at, 8) && std::memcmp(b_.data() + at, signature, 8) != 0) at = at == 0 ? 512 : at * 2;
    if (!has(at, 16)) return;  // not an HDF5 file: opening it says so
    base_ = at;
    const unsigned version = byte(at + 8);
    u64 root;  // where the root object header's address is
    if (version <= 1) {
      offsets_ = byte(at + 13);
      lengths_ = byte(at + 14);
      root = at + 24 + (version == 1 ? 4 : 0) + 4 * u64{offsets_} + offsets_;  // + the entry's name offset
    } else if (version <= 3) {
      offsets_ = byte(at + 9);
      lengths_ = byte(at + 10);
      root = at + 12 + 3 * u64{offsets_};
    } else {
      return;
    }
    for (const unsigned width : {offsets_, lengths_})
      if (width != 2 && width != 4 && width != 8) return;  // HDF5 refuses other widths itself
    if (!has(root, offsets_)) return;
    queue_header(address(root));
    while (!headers_.empty() && budget_ > 0) {
      const u64 h = headers_.front();
      headers_.pop_front();
      header(h);
    }
  }

 private:
  const std::vector<char>& b_;
  const std::string& path_;
  u64 base_ = 0;
  unsigned offsets_ = 8, lengths_ = 8;  // the widths of addresses and of lengths
  std::deque<u64> headers_;             // object headers still to walk
  std::set<u64> seen_headers_, seen_chunks_, seen_nodes_;  // a damaged file may link in circles
  std::map<u64, std::optional<Objects>> heaps_;
  long budget_ = 1L << 22;  // messages and entries walked at most: a bound on the time, whatever the file

  bool has(u64 at, u64 n) const { return at <= b_.size() && n <= b_.size() - at; }
  unsigned byte(u64 at) const { return static_cast<unsigned char>(b_[at]); }
  u64 le(u64 at, unsigned n) const {  // callers check has(at, n)
    u64 v = 0;
    for (unsigned i = n; i-- > 0;) v = (v << 8) | byte(at + i);
    return v;
  }
  // The address stored at `at` as a file offset; nullopt for the undefined address (all bits set). An
  // address that overflows comes back as one no has() accepts.
  std::optional<u64> address(u64 at) const {
    const u64 raw = le(at, offsets_);
    if (offsets_ < 8 ? raw == (u64{1} << (8 * offsets_)) - 1 : raw == ~u64{0}) return std::nullopt;
    return raw > ~u64{0} - base_ ? ~u64{0} : base_ + raw;
  }
  [[noreturn]] void damaged(const std::string& what) const {
    throw UserError(path_ + ": is damaged (" + what + ")");
  }
  void queue_header(std::optional<u64> at) {
    if (at && seen_headers_.insert(*at).second) headers_.push_back(*at);
  }

  // Version 2 object header: "OHDR", version, flags, [times: 16 bytes if flags bit 5], [attribute phase
  // change: 4 bytes if bit 4], the size of chunk 0 in 1, 2, 4 or 8 bytes (bits 0-1), the chunk, a checksum.
  // Version 1: version 1, reserved, message count (2), reference count (4), chunk 0 size (4), 4 bytes of
  // padding, the chunk. A chunk-0 size past the end of the file is damage (HDF5 would allocate it).
  void header(u64 at) {
    u64 begin = 0, size = 0;
    int version = 0;
    unsigned flags = 0;
    if (has(at, 6) && std::memcmp(b_.data() + at, "OHDR", 4) == 0 && byte(at + 4) == 2) {
      version = 2;
      flags = byte(at + 5);
      const u64 p = at + 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
      const unsigned width = 1u << (flags & 3);
      if (!has(p, width)) return;
      size = le(p, width);
      begin = p + width;
    } else if (has(at, 16) && byte(at) == 1) {
      version = 1;
      size = le(at + 8, 4);
      begin = at + 16;
    } else {
      return;  // not a header HDF5 would accept
    }
    if (!has(begin, size))
      damaged("the object header at byte " + std::to_string(at) + " claims " + std::to_string(size) +
              " bytes, past the end of the file's " + std::to_string(b_.size()) + " bytes");
    // Messages: type, size and flags (version 1: type u16, size u16, flags, 3 reserved, the data padded to
    // 8 bytes; version 2: type u8, size u16, flags, a u16 creation order if header flags bit 2), and a
    // version 2 chunk ends in a 4-byte checksum. Continuation chunks are walked the same way. A message
    // whose flags say shared (bit 1) holds a reference to the message, not the message: not followed.
    std::deque<std::pair<u64, u64>> chunks{{begin, version == 2 && size >= 4 ? begin + size - 4 : begin + size}};
    const u64 prefix = version == 1 ? 8 : (flags & 0x04) ? 6 : 4;
    while (!chunks.empty()) {
      auto [p, end] = chunks.front();
      chunks.pop_front();
      while (end - p >= prefix && budget_-- > 0) {
        const unsigned type = version == 1 ? static_cast<unsigned>(le(p, 2)) : byte(p);
        const u64 length = version == 1 ? le(p + 2, 2) : le(p + 1, 2);
        const u64 body = p + prefix;
        if (length > end - body) break;  // HDF5 refuses a message that overruns its chunk
        const bool shared = (byte(p + (version == 1 ? 4 : 3)) & 0x02) != 0;  // the body points elsewhere
        if (!shared && type == 0x10) continuation(at, body, length, version, chunks);
        if (!shared && type == 0x11) group_btree(body, length);
        if (!shared && type == 0x06) link(body, length);
        if (!shared && type == 0x0C) attribute(body, length);
        p = body + length;
      }
    }
  }

  // Object header continuation: address and length of the next chunk. HDF5 1.10 allocates the length
  // before it reads a byte (no check against the end of the file: the 446 GB allocation), so a chunk that
  // does not lie inside the file is refused here. A version 2 chunk is "OCHK", messages, checksum.
  void continuation(u64 header, u64 body, u64 length, int version, std::deque<std::pair<u64, u64>>& chunks) {
    if (length < u64{offsets_} + lengths_) return;
    const auto at = address(body);
    const u64 size = le(body + offsets_, lengths_);
    if (!at || !has(*at, size))
      damaged("the object header at byte " + std::to_string(header) + " continues in " + std::to_string(size) +
              " bytes at " + (at ? "byte " + std::to_string(*at) : std::string("an undefined address")) +
              ", outside the file's " + std::to_string(b_.size()) + " bytes");
    if (!seen_chunks_.insert(*at).second) return;
    if (version == 1) chunks.emplace_back(*at, *at + size);
    else if (size >= 8 && std::memcmp(b_.data() + *at, "OCHK", 4) == 0) chunks.emplace_back(*at + 4, *at + size - 4);
  }

  // Symbol table message (a group's old-style storage): the address of its B-tree, then of its local heap.
  // The B-tree (version 1, "TREE", type 0 for groups, level, entry count, two sibling addresses, then keys
  // of `lengths_` bytes around child addresses) leads to symbol table nodes ("SNOD", version, reserved,
  // entry count, then entries: name offset, object header address, cache type u32, reserved u32, 16 bytes
  // of scratch), whose object headers are walked in turn.
  void group_btree(u64 body, u64 length) {
    if (length >= offsets_) btree_node(address(body), 0);
  }
  void btree_node(std::optional<u64> at, int depth) {
    if (!at || depth > 64 || !seen_nodes_.insert(*at).second) return;
    const u64 head = 8 + 2 * u64{offsets_};
    if (!has(*at, head) || std::memcmp(b_.data() + *at, "TREE", 4) != 0 || byte(*at + 4) != 0) return;
    const unsigned level = byte(*at + 5);
    const u64 entries = le(*at + 6, 2);
    for (u64 i = 0, p = *at + head; i < entries && budget_-- > 0; ++i, p += lengths_ + offsets_) {
      if (!has(p + lengths_, offsets_)) return;
      const auto child = address(p + lengths_);
      if (level > 0) btree_node(child, depth + 1);
      else symbol_node(child);
    }
  }
  void symbol_node(std::optional<u64> at) {
    if (!at || !seen_nodes_.insert(*at).second) return;
    if (!has(*at, 8) || std::memcmp(b_.data() + *at, "SNOD", 4) != 0) return;
    const u64 entries = le(*at + 6, 2), entry = 2 * u64{offsets_} + 24;
    for (u64 i = 0, p = *at + 8; i < entries && budget_-- > 0 && has(p, entry); ++i, p += entry)
      queue_header(address(p + offsets_));
  }

  // Link message (new-style groups): version 1, flags, [link type if flags bit 3], [creation order, 8 bytes,
  // if bit 2], [name character set if bit 4], the name's length in 1 << (flags & 3) bytes, the name, and for
  // a hard link (type 0) the object header's address.
  void link(u64 body, u64 length) {
    if (length < 2 || byte(body) != 1) return;
    const unsigned flags = byte(body + 1);
    u64 p = body + 2;
    const u64 end = body + length;
    unsigned type = 0;
    if (flags & 0x08) type = p < end ? byte(p++) : 1;
    if (flags & 0x04) p += 8;
    if (flags & 0x10) p += 1;
    const unsigned width = 1u << (flags & 3);
    if (type != 0 || p + width > end) return;
    const u64 name = le(p, width);
    p += width;
    if (name > end - p || end - p - name < offsets_) return;
    queue_header(address(p + name));
  }

  // Attribute message: version (1-3), flags (v2+: bits 0-1 mean a shared datatype/dataspace, not followed),
  // name, datatype and dataspace sizes (u16 each), [character set: version 3], then the name, datatype,
  // dataspace (each padded to 8 bytes in version 1) and the data. A variable-length datatype (class 9) stores
  // each value as its length u32, the address of a global heap collection and an object index u32.
  void attribute(u64 body, u64 length) {
    if (length < 8) return;
    const unsigned version = byte(body);
    if (version < 1 || version > 3 || (version >= 2 && (byte(body + 1) & 3) != 0)) return;
    const auto padded = [&](u64 n) { return version == 1 ? (n + 7) & ~u64{7} : n; };
    const u64 name = le(body + 2, 2), type_size = le(body + 4, 2), space_size = le(body + 6, 2);
    const u64 type = body + 8 + (version == 3 ? 1 : 0) + padded(name);
    const u64 space = type + padded(type_size);
    const u64 data = space + padded(space_size);
    const u64 end = body + length;
    // Datatype: class and version, 3 bytes of class bits, size u32, properties (for class 9, the base type).
    if (data > end || type_size < 16 || (byte(type) & 0x0F) != 9) return;
    const u64 element = le(type + 4, 4), base_size = le(type + 12, 4);
    if (element != 8 + u64{offsets_}) return;
    const auto count = elements(space, space_size);
    for (u64 i = 0, p = data; count && i < *count && element <= end - p && budget_-- > 0; ++i, p += element)
      vlen_value(p, base_size);
  }

  // Dataspace message: version 1 (version, rank, flags, 5 reserved bytes, dimensions; rank 0 is a scalar)
  // or 2 (version, rank, flags, type: 0 scalar, 1 simple, 2 null; dimensions); dimensions of `lengths_`.
  std::optional<u64> elements(u64 at, u64 size) const {
    if (size < 4) return std::nullopt;
    const unsigned version = byte(at), rank = byte(at + 1);
    if (version == 2 && byte(at + 3) != 1) return byte(at + 3) == 0 ? 1 : 0;
    if (version != 1 && version != 2) return std::nullopt;
    const u64 dims = at + (version == 1 ? 8 : 4);
    if (dims - at + u64{rank} * lengths_ > size) return std::nullopt;
    u64 count = 1;
    for (unsigned i = 0; i < rank; ++i) count = std::min(count * std::min(le(dims + u64{i} * lengths_, lengths_), u64{1} << 32), u64{1} << 32);
    return count;
  }

  // HDF5 1.10 allocates the value's length times the base type's size, then copies the heap object into it
  // whatever the object's size (H5HG_read; the check comes after the copy), and an index the collection does
  // not hold reads outside its table of objects. So the object must exist and be exactly as long as the
  // value says. Address 0 is an empty value, never read.
  void vlen_value(u64 at, u64 base_size) {
    if (le(at + 4, offsets_) == 0) return;
    const u64 length = le(at, 4), index = le(at + 4 + offsets_, 4);
    const auto heap = address(at + 4);
    const std::optional<Objects>* objects = heap ? &collection(*heap) : nullptr;
    const auto found = objects && *objects ? (*objects)->find(index) : Objects::const_iterator{};
    const bool exists = objects && *objects && index > 0 && found != (*objects)->end();
    if (!exists || found->second != length * base_size)
      damaged("a variable-length value at byte " + std::to_string(at) + " refers to " +
              (exists ? "a global heap object of " + std::to_string(found->second) + " bytes, not " + std::to_string(length * base_size)
                      : "global heap object " + std::to_string(index) + (heap ? " at byte " + std::to_string(*heap) : std::string()) +
                            ", which does not exist"));
  }

  // Global heap collection: "GCOL", version 1, 3 reserved bytes, its size (`lengths_` bytes, header
  // included), then objects: index u16, reference count u16, reserved u32, size (`lengths_`), data padded to
  // 8 bytes; index 0 is the free space, whose size counts its header. Walked as HDF5 1.10 walks it (the
  // last object of an index wins); nullopt if HDF5 could not load it or the walk overruns it.
  const std::optional<Objects>& collection(u64 at) {
    if (const auto it = heaps_.find(at); it != heaps_.end()) return it->second;
    std::optional<Objects>& objects = heaps_[at];
    const u64 head = 8 + u64{lengths_};
    if (!has(at, head) || std::memcmp(b_.data() + at, "GCOL", 4) != 0 || byte(at + 4) != 1) return objects;
    const u64 size = le(at + 8, lengths_);
    if (size < head || !has(at, size)) return objects;
    Objects found;
    for (u64 p = at + head, end = at + size; end - p >= head;) {
      const u64 index = le(p, 2), bytes = le(p + 8, lengths_);
      if (bytes > end - p) return objects;
      const u64 need = index > 0 ? head + ((bytes + 7) & ~u64{7}) : bytes;
      if (need == 0 || need > end - p) return objects;
      found[index] = bytes;
      p += need;
    }
    objects = std::move(found);
    return objects;
  }
};

}  // namespace

void refuse_unsafe_structure(const std::vector<char>& bytes, const std::string& path) { Walk(bytes, path).run(); }

}  // namespace sbx::io::detail
