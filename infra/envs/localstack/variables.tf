variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "topology_file" {
  description = "The courier topology file."
  type        = string
  default     = "../../../topology.yaml"
}

variable "lambda_zip_dir" {
  description = "Where scripts/package-lambdas.sh wrote the function zips."
  type        = string
  default     = "../../../target/lambda"
}

variable "functions" {
  description = "The functions to deploy and the subscription each consumes (see modules/aws)."
  type = map(object({
    subscription         = string
    batch_size           = optional(number, 10)
    batching_window_secs = optional(number, 0)
    timeout_secs         = optional(number, 5)
    memory_mb            = optional(number, 128)
    environment          = optional(map(string), {})
  }))
  # LocalStack cannot execute functions without Docker: run them with `courier lambda run`.
  default = {}
}

variable "alarm_actions" {
  description = "ARNs to notify when a dead-letter queue is not empty."
  type        = list(string)
  default     = []
}

variable "localstack_url" {
  description = "LocalStack's URL, as ./localstack/start.sh prints it."
  type        = string
  default     = "http://127.0.0.1:4566"
}
