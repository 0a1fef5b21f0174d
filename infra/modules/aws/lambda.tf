# The courier Lambda functions: one per entry of var.functions, each triggered by its
# subscription queue with partial batch responses, with a least-privilege role.

locals {
  functions = {
    for name, f in var.functions : name => merge(f, {
      queue_key = replace(f.subscription, "/", "-")
    })
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "/aws/lambda/${each.key}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name               = "courier-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = var.tags
}

data "aws_iam_policy_document" "function" {
  for_each = local.functions

  statement {
    sid = "ConsumeOwnQueue"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.this[each.value.queue_key].arn]
  }
  # Permanent failures go to the queue's dead-letter queue with their reason.
  statement {
    sid       = "DeadLetterToOwnQueue"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.dlq[each.value.queue_key].arn]
  }
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions

  name   = "courier-${each.key}"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function[each.key].json
}

resource "aws_lambda_function" "this" {
  for_each = local.functions

  function_name    = each.key
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["x86_64"]
  filename         = "${var.lambda_zip_dir}/${each.key}.zip"
  source_code_hash = filebase64sha256("${var.lambda_zip_dir}/${each.key}.zip")
  timeout          = each.value.timeout_secs
  memory_size      = each.value.memory_mb
  environment {
    variables = merge({ RUST_LOG = "info" }, each.value.environment)
  }
  tags = var.tags

  lifecycle {
    precondition {
      # AWS advises a visibility timeout of at least six times the function timeout.
      condition     = local.queues[each.value.queue_key].visibility_timeout_secs >= 6 * each.value.timeout_secs
      error_message = "The queue of ${each.key} has a visibility timeout under 6 x its timeout (${each.value.timeout_secs} s): raise visibility_timeout_secs in the topology or lower the timeout."
    }
  }

  depends_on = [aws_cloudwatch_log_group.function, aws_iam_role_policy.function]
}

resource "aws_lambda_event_source_mapping" "this" {
  for_each = local.functions

  event_source_arn                   = aws_sqs_queue.this[each.value.queue_key].arn
  function_name                      = aws_lambda_function.this[each.key].arn
  batch_size                         = each.value.batch_size
  maximum_batching_window_in_seconds = each.value.batching_window_secs
  function_response_types            = ["ReportBatchItemFailures"]
}
