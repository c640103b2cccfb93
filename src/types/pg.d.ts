/**
 * The part of `pg` (node-postgres 8.23.1) llma uses. Its own types live in @types/pg, which is not a
 * dependency: these declarations cover the pool, clients and results the PostgreSQL store calls.
 */
declare module "pg" {
  export interface QueryResult<Row> {
    readonly rows: Row[];
    readonly rowCount: number | null;
  }

  export interface PoolConfig {
    connectionString?: string;
    max?: number;
    connectionTimeoutMillis?: number;
    idleTimeoutMillis?: number;
    statement_timeout?: number;
    lock_timeout?: number;
    application_name?: string;
  }

  export interface PoolClient {
    query<Row = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<QueryResult<Row>>;
    /** Back to the pool; with an error (or true) the connection is closed instead. */
    release(destroy?: boolean | Error): void;
    on(event: "error", listener: (error: Error) => void): this;
    off(event: "error", listener: (error: Error) => void): this;
  }

  export class Pool {
    constructor(config?: PoolConfig);
    query<Row = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<QueryResult<Row>>;
    connect(): Promise<PoolClient>;
    end(): Promise<void>;
    on(event: "error", listener: (error: Error) => void): this;
  }

  const pg: { Pool: typeof Pool };
  export default pg;
}
