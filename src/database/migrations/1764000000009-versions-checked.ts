import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The version check of a statement that saves several products at once (product-statement.ts): it fails
 * the whole statement, with SQLSTATE 40001 like any lost race, unless every product was still at the
 * version its unit of work read, so that no product's change commits without the others'.
 */
export class VersionsChecked1764000000009 implements MigrationInterface {
  name = 'VersionsChecked1764000000009';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION allocation_versions_checked(passed bigint, expected integer) RETURNS integer
      LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        IF passed <> expected THEN
          RAISE EXCEPTION 'a product changed since it was read (% of % versions matched)', passed, expected
            USING ERRCODE = 'serialization_failure';
        END IF;
        RETURN 1;
      END
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION allocation_versions_checked(bigint, integer)`);
  }
}
