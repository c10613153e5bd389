/* CK_ATTRIBUTE arrays read and written in one call each, for the Python half of the shim (c_shim/_marshal.py).
 *
 * Through cffi every structure field costs a Python operation (a CK_ATTRIBUTE with its value ~0.5 us), and a
 * template has a dozen attributes (python-pkcs11's C_GenerateKey: 14; its C_GetAttributeValue calls after it: 10
 * and 8). These copy a whole template between the caller's structures and flat buffers the Python side allocates
 * per call, so they share no state between threads. They check only what the C layout itself says (NULL pointers,
 * lengths); everything else about attributes is the provider's. */

#define KS_CKR_ATTRIBUTE_VALUE_INVALID 0x13UL
/* Longest attribute value accepted in an input template: a length beyond it cannot describe a real buffer
 * (CK_UNAVAILABLE_INFORMATION left over from a C_GetAttributeValue, or garbage). */
#define KS_MAX_VALUE_LEN (1UL << 40)

/* An input template (§5.7.1: values the caller supplies) read into `fields` (CK_ULONG[3 * count + 1]) and `values`:
 * each attribute's type and the [start, end) of its value in `values`, where the values are copied end to end;
 * fields[3 * count] is their total length. Copies nothing when the total exceeds `capacity` (the caller asks
 * again with that much room: KS_CKR_BUFFER_TOO_SMALL). In attribute order, a NULL pValue with a non-zero length is
 * CKR_ARGUMENTS_BAD and a length over KS_MAX_VALUE_LEN CKR_ATTRIBUTE_VALUE_INVALID, fields[0] then the index of
 * that attribute; values adding up to more than memory can hold are CKR_HOST_MEMORY. */
static CK_RV ks_read_template(const CK_ATTRIBUTE *t, CK_ULONG count, CK_ULONG *fields, unsigned char *values,
                              CK_ULONG capacity) {
    CK_ULONG total = 0;
    if (count && !t) return KS_CKR_ARGUMENTS_BAD;
    for (CK_ULONG i = 0; i < count; i++) {
        CK_ULONG length = t[i].ulValueLen;
        if (length && !t[i].pValue) { fields[0] = i; return KS_CKR_ARGUMENTS_BAD; }
        if (length > KS_MAX_VALUE_LEN) { fields[0] = i; return KS_CKR_ATTRIBUTE_VALUE_INVALID; }
        fields[3 * i] = t[i].type;
        fields[3 * i + 1] = total;
        if (length > (CK_ULONG)SIZE_MAX / 2 - total) return KS_CKR_HOST_MEMORY; /* more than memory can hold */
        total += length;
        fields[3 * i + 2] = total;
    }
    fields[3 * count] = total;
    if (total > capacity) return KS_CKR_BUFFER_TOO_SMALL;
    for (CK_ULONG i = 0; i < count; i++)
        if (t[i].ulValueLen) memcpy(values + fields[3 * i + 1], t[i].pValue, t[i].ulValueLen);
    return KS_CKR_OK;
}

/* C_GetAttributeValue's template (§5.7.5) read into `fields` (CK_ULONG[3 * count]): each attribute's type,
 * whether pValue is set (a NULL one asks for the length) and ulValueLen. */
static void ks_read_query(const CK_ATTRIBUTE *t, CK_ULONG count, CK_ULONG *fields) {
    for (CK_ULONG i = 0; i < count; i++) {
        fields[3 * i] = t[i].type;
        fields[3 * i + 1] = t[i].pValue != NULL;
        fields[3 * i + 2] = t[i].ulValueLen;
    }
}

/* The answer to C_GetAttributeValue written into the caller's template: ulValueLen = lengths[i], and where pValue
 * is set, the length is not CK_UNAVAILABLE_INFORMATION and the buffer holds it (those and only those attributes
 * have a value), the value, taken in order from `data` (`size` bytes: every value end to end). Writes nothing
 * and answers CKR_GENERAL_ERROR when `data` does not hold exactly those values. */
static CK_RV ks_write_query(CK_ATTRIBUTE *t, CK_ULONG count, const CK_ULONG *lengths, const char *data, CK_ULONG size) {
    CK_ULONG total = 0;
    for (CK_ULONG i = 0; i < count; i++) {
        CK_ULONG length = lengths[i];
        if (t[i].pValue && length != KS_UNAVAILABLE_INFORMATION && length <= t[i].ulValueLen) {
            if (length > size - total) return KS_CKR_GENERAL_ERROR;
            total += length;
        }
    }
    if (total != size) return KS_CKR_GENERAL_ERROR;
    for (CK_ULONG i = 0; i < count; i++) {
        CK_ULONG length = lengths[i];
        if (t[i].pValue && length != KS_UNAVAILABLE_INFORMATION && length <= t[i].ulValueLen) {
            memcpy(t[i].pValue, data, length);
            data += length;
        }
        t[i].ulValueLen = length;
    }
    return KS_CKR_OK;
}
