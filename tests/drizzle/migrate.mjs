// drizzle-orm's own migrator (node-postgres) applied to a migrations folder.
// Usage: node migrate.mjs <database url> <migrations folder>
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';

const [url, folder] = process.argv.slice(2);
const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  await migrate(drizzle(client), { migrationsFolder: folder });
  const { rows } = await client.query('SELECT hash, created_at::text AS created_at FROM drizzle.__drizzle_migrations ORDER BY created_at');
  console.log(JSON.stringify(rows));
} finally {
  await client.end();
}
