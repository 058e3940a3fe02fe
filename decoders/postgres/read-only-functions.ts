/**
 * Functions a SELECT may call and still be a read (THREATS.md "functions with side effects called from
 * a SELECT … treat anything not understood as admin").
 *
 * Why a list of what is allowed rather than of what is dangerous: any function can write. A plpgsql or
 * SQL function a user created (`SELECT wipe_items()`) runs DELETE inside a statement the parser sees
 * only as a SELECT. PostgreSQL's built-ins marked IMMUTABLE or STABLE cannot modify the database
 * ("A STABLE function cannot modify the database", PostgreSQL docs 38.7 "Function Volatility
 * Categories"), so those people use in queries are listed here; a call to anything else, user-defined
 * or a built-in not listed, makes the statement `admin`.
 *
 * A few VOLATILE built-ins are listed too because they change nothing in the database: random() and
 * friends, clock_timestamp(), pg_sleep() (used by clients to test cancellation).
 *
 * Left off on purpose although STABLE: functions that run SQL given as text (query_to_xml and the other
 * *_to_xml, ts_stat, ts_rewrite with a query), which would run a write or a user function the
 * classifier never saw; and anything touching files, other sessions, large objects or sequences.
 *
 * A name here counts only when called unqualified or as `pg_catalog.name`: `myschema.lower()` is
 * someone's own function. Names are as PostgreSQL folds them (lower case).
 */
export const READ_ONLY_FUNCTIONS: ReadonlySet<string> = new Set([
  // aggregates (docs 9.21) and window functions (9.22)
  'count', 'sum', 'avg', 'min', 'max', 'array_agg', 'string_agg', 'json_agg', 'jsonb_agg', 'json_object_agg',
  'jsonb_object_agg', 'json_agg_strict', 'jsonb_agg_strict', 'json_object_agg_strict', 'jsonb_object_agg_strict',
  'json_object_agg_unique', 'jsonb_object_agg_unique', 'json_object_agg_unique_strict', 'jsonb_object_agg_unique_strict',
  'bool_and', 'bool_or', 'every', 'bit_and', 'bit_or', 'bit_xor', 'any_value', 'range_agg', 'range_intersect_agg', 'xmlagg',
  'stddev', 'stddev_pop', 'stddev_samp', 'variance', 'var_pop', 'var_samp', 'corr', 'covar_pop', 'covar_samp',
  'regr_avgx', 'regr_avgy', 'regr_count', 'regr_intercept', 'regr_r2', 'regr_slope', 'regr_sxx', 'regr_sxy', 'regr_syy',
  'mode', 'percentile_cont', 'percentile_disc', 'grouping',
  'row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'ntile', 'lag', 'lead', 'first_value', 'last_value', 'nth_value',
  // math (9.3)
  'abs', 'cbrt', 'ceil', 'ceiling', 'degrees', 'div', 'exp', 'factorial', 'floor', 'gcd', 'lcm', 'ln', 'log', 'log10',
  'min_scale', 'mod', 'pi', 'power', 'pow', 'radians', 'round', 'scale', 'sign', 'sqrt', 'trim_scale', 'trunc',
  'width_bucket', 'random', 'random_normal', 'setseed', 'acos', 'asin', 'atan', 'atan2', 'cos', 'cot', 'sin', 'tan',
  'acosd', 'asind', 'atand', 'atan2d', 'cosd', 'cotd', 'sind', 'tand', 'sinh', 'cosh', 'tanh', 'asinh', 'acosh', 'atanh',
  'erf', 'erfc', 'gamma', 'lgamma',
  // strings and bytes (9.4, 9.5), including the SQL-syntax forms the parser turns into pg_catalog calls
  'ascii', 'bit_length', 'btrim', 'char_length', 'character_length', 'chr', 'concat', 'concat_ws', 'format', 'initcap',
  'left', 'length', 'lower', 'lpad', 'ltrim', 'md5', 'octet_length', 'overlay', 'position', 'quote_ident',
  'quote_literal', 'quote_nullable', 'regexp_count', 'regexp_instr', 'regexp_like', 'regexp_match', 'regexp_matches',
  'regexp_replace', 'regexp_split_to_array', 'regexp_split_to_table', 'regexp_substr', 'repeat', 'replace', 'reverse',
  'right', 'rpad', 'rtrim', 'split_part', 'starts_with', 'string_to_array', 'string_to_table', 'strpos', 'substr',
  'substring', 'to_ascii', 'to_hex', 'to_bin', 'to_oct', 'translate', 'unistr', 'upper', 'casefold', 'normalize',
  'is_normalized', 'encode', 'decode', 'convert', 'convert_from', 'convert_to', 'get_byte', 'set_byte', 'get_bit',
  'set_bit', 'sha224', 'sha256', 'sha384', 'sha512', 'crc32', 'crc32c', 'bit_count', 'like_escape', 'similar_to_escape',
  'similar_escape', 'pg_collation_for', 'to_char', 'to_number', 'to_date', 'to_timestamp', 'gen_random_uuid', 'uuidv4', 'uuidv7',
  'uuid_extract_timestamp', 'uuid_extract_version', 'text',
  // date and time (9.9)
  'age', 'clock_timestamp', 'current_date', 'current_time', 'current_timestamp', 'date_add', 'date_bin', 'date_part',
  'date_subtract', 'date_trunc', 'extract', 'isfinite', 'justify_days', 'justify_hours', 'justify_interval',
  'localtime', 'localtimestamp', 'make_date', 'make_interval', 'make_time', 'make_timestamp', 'make_timestamptz',
  'now', 'statement_timestamp', 'timeofday', 'transaction_timestamp', 'timezone', 'overlaps',
  // arrays and ranges (9.19, 9.20)
  'array_append', 'array_cat', 'array_dims', 'array_fill', 'array_length', 'array_lower', 'array_ndims',
  'array_position', 'array_positions', 'array_prepend', 'array_remove', 'array_replace', 'array_reverse',
  'array_sample', 'array_shuffle', 'array_sort', 'array_to_string', 'array_upper', 'cardinality', 'trim_array', 'unnest',
  'lower_inc', 'upper_inc', 'lower_inf', 'upper_inf', 'isempty', 'range_merge', 'multirange', 'int4range', 'int8range',
  'numrange', 'tsrange', 'tstzrange', 'daterange',
  // JSON (9.16): builders, accessors, path queries
  'to_json', 'to_jsonb', 'array_to_json', 'row_to_json', 'json_build_array', 'jsonb_build_array', 'json_build_object',
  'jsonb_build_object', 'json_object', 'jsonb_object', 'json_array_length', 'jsonb_array_length', 'json_each',
  'jsonb_each', 'json_each_text', 'jsonb_each_text', 'json_extract_path', 'jsonb_extract_path', 'json_extract_path_text',
  'jsonb_extract_path_text', 'json_object_keys', 'jsonb_object_keys', 'json_populate_record', 'jsonb_populate_record',
  'json_populate_recordset', 'jsonb_populate_recordset', 'json_to_record', 'jsonb_to_record', 'json_to_recordset',
  'jsonb_to_recordset', 'json_array_elements', 'jsonb_array_elements', 'json_array_elements_text',
  'jsonb_array_elements_text', 'json_typeof', 'jsonb_typeof', 'json_strip_nulls', 'jsonb_strip_nulls', 'jsonb_set',
  'jsonb_set_lax', 'jsonb_insert', 'jsonb_pretty', 'jsonb_concat', 'jsonb_path_exists', 'jsonb_path_match',
  'jsonb_path_query', 'jsonb_path_query_array', 'jsonb_path_query_first', 'jsonb_path_exists_tz', 'jsonb_path_match_tz',
  'jsonb_path_query_tz', 'jsonb_path_query_array_tz', 'jsonb_path_query_first_tz', 'json_scalar', 'json_serialize',
  'to_tsvector', 'to_tsquery', 'plainto_tsquery', 'phraseto_tsquery', 'websearch_to_tsquery', 'ts_rank', 'ts_rank_cd',
  'ts_headline', 'setweight', 'strip', 'numnode', 'querytree', 'tsvector_to_array', 'array_to_tsvector',
  // set-returning and misc (9.26, 9.27): generate_series, session information, sleeping
  'generate_series', 'generate_subscripts', 'pg_sleep', 'pg_sleep_for', 'pg_sleep_until', 'num_nulls', 'num_nonnulls',
  'current_database', 'current_schema', 'current_schemas', 'current_setting', 'version', 'pg_backend_pid',
  'pg_typeof', 'format_type', 'pg_column_size', 'pg_postmaster_start_time', 'pg_get_viewdef', 'pg_get_indexdef',
  'pg_get_constraintdef', 'pg_get_expr', 'pg_get_userbyid', 'pg_table_is_visible', 'pg_relation_size',
  'pg_total_relation_size', 'pg_table_size', 'pg_indexes_size', 'pg_size_pretty', 'pg_size_bytes',
  'pg_encoding_to_char', 'pg_get_serial_sequence', 'obj_description', 'col_description', 'to_regclass', 'to_regtype',
  'has_table_privilege', 'has_column_privilege', 'has_schema_privilege', 'has_database_privilege', 'has_function_privilege',
  'inet_client_addr', 'inet_server_addr', 'txid_current_if_assigned', 'pg_current_xact_id_if_assigned',
  // pgvector (README "Functions", "Aggregates"): distances, norms, quantization; avg/sum on vectors are above
  'l2_distance', 'cosine_distance', 'inner_product', 'l1_distance', 'vector_dims', 'vector_norm', 'l2_norm',
  'l2_normalize', 'binary_quantize', 'subvector', 'hamming_distance', 'jaccard_distance'
])
