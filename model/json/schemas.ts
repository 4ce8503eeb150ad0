// JSON schemas for the structured-output tests, bench and example: three shapes that cover nested
// objects, arrays, enums, consts, nullable values and bounded integers and numbers, and one in the
// shape of the JSON model's package records. Platform-neutral.

/** Three schemas: nested objects, arrays, enums, consts, nullable, bounded integers and numbers. */
export const SCHEMAS: Record<string, object> = {
  'profile (nested object, enum, bounded integer, boolean)': {
    type: 'object',
    properties: {
      user: {
        type: 'object',
        properties: { name: { type: 'string', minLength: 1, maxLength: 10 }, role: { enum: ['admin', 'editor', 'viewer'] } },
        required: ['name', 'role'],
      },
      age: { type: 'integer', minimum: 0, maximum: 120 },
      active: { type: 'boolean' },
    },
    required: ['user', 'age', 'active'],
  },
  'order (array of objects, bounded numbers with 2 decimals, string array)': {
    type: 'object',
    properties: {
      items: {
        type: 'array',
        minItems: 1,
        maxItems: 4,
        items: {
          type: 'object',
          properties: { id: { type: 'integer', minimum: 1, maximum: 9999 }, price: { type: 'number', minimum: 0, maximum: 1000, multipleOf: 0.01 } },
          required: ['id', 'price'],
        },
      },
      tags: { type: 'array', maxItems: 3, items: { type: 'string', maxLength: 6 } },
    },
    required: ['items', 'tags'],
  },
  'point (const, negative and exclusive bounds, nullable, enum)': {
    type: 'object',
    properties: {
      kind: { const: 'point' },
      x: { type: 'number', minimum: -10, maximum: 10, multipleOf: 0.001 },
      y: { type: 'integer', exclusiveMinimum: -5, exclusiveMaximum: 5 },
      label: { anyOf: [{ type: 'string', maxLength: 5 }, { type: 'null' }] },
      unit: { enum: ['cm', 'm', 'km'] },
    },
    required: ['kind', 'x', 'y', 'label', 'unit'],
  },
};

/** A package record, the shape of many of the JSON model's training lines (model/json/corpus). */
export const PACKAGE_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 24 },
    version: { type: 'string', pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+$' },
    license: { enum: ['MIT', 'ISC', 'Apache-2.0', 'BSD-3-Clause'] },
    keywords: { type: 'array', items: { type: 'string', maxLength: 12 }, maxItems: 4 },
    stars: { type: 'integer', minimum: 0, maximum: 5000 },
  },
  required: ['name', 'version', 'license', 'keywords', 'stars'],
} as const;
